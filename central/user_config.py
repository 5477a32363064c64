"""The user's config file: defaults and named profiles, in TOML.

Lives at ``<user config dir>/config.toml`` (central.paths), e.g.
``~/.config/endorse-ble/config.toml`` on Linux::

    [gateway]                      # defaults for every command
    name = "endorse-gw"            # advertised name (or address = "AA:BB:...")
    adapter = "hci0"               # Linux only
    scan_timeout = 10
    challenge_timeout = 30
    gateway_timeout = 60           # the whole gateway session, waits included
    pair = false

    [exchange]
    url = "https://exchange.example.com/"
    timeout = 10                   # the whole exchange call

    [profiles.gw]                  # used by --profile gw
    exchange_url = "https://exchange.example.com/"
    exchange_timeout = 10
    [profiles.gw.gateway]
    name = "endorse-gw-2"

Unknown keys and wrong types are errors that name the file and the key. Parsing is pure:
:func:`parse_user_config` takes the text; :func:`load_user_config` reads the file.
"""

from __future__ import annotations

import os
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from endorse_ble.central.credential_cache import is_valid_profile
from endorse_ble.central.errors import ConfigError
from endorse_ble.central.paths import default_config_path
from endorse_ble.tokenlink.durations import WAIT_RULE, is_wait_seconds
from endorse_ble.tokenlink.net import is_loopback_host

MAX_CONFIG_BYTES = 256 * 1024


@dataclass(frozen=True)
class GatewayConfig:
    """Which gateway and how to reach it; None means "not set here"."""

    name: str | None = None
    address: str | None = None
    adapter: str | None = None
    scan_timeout: float | None = None
    challenge_timeout: float | None = None
    gateway_timeout: float | None = None
    pair: bool | None = None

    def over(self, base: GatewayConfig) -> GatewayConfig:
        """These settings, falling back to ``base`` for what is not set."""
        return GatewayConfig(
            **{
                key: base.__dict__[key] if value is None else value
                for key, value in self.__dict__.items()
            }
        )


@dataclass(frozen=True)
class ProfileConfig:
    """A profile's settings (the top level of the file is the default profile)."""

    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    exchange_url: str | None = None
    exchange_timeout: float | None = None


@dataclass(frozen=True)
class UserConfig:
    """The parsed config file; ``path`` is where it came from (for messages)."""

    path: str
    default: ProfileConfig = field(default_factory=ProfileConfig)
    profiles: Mapping[str, ProfileConfig] = field(default_factory=lambda: MappingProxyType({}))


def validate_exchange_url(url: str) -> str:
    """``url`` if it is https, or http to a loopback host; ValueError otherwise.

    Plain HTTP would carry the bearer token and the AWS secret in clear text, so it is
    only accepted where no network is crossed (a local exchange).
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise ValueError("the URL must not carry a user name or password")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError("plain http is accepted only to a loopback address; use https")
    return url


class _Reader:
    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.path, key, problem)

    def table(
        self, data: Mapping[str, Any], key: str, allowed: set[str], label: str | None = None
    ) -> Mapping[str, Any]:
        label = label or key
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.error(label, "must be a table")
        for name in value:
            if name not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.error(f"{label}.{name}", f"unknown key (known: {known})")
        return value

    def text(self, data: Mapping[str, Any], prefix: str, key: str) -> str | None:
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise self.error(f"{prefix}{key}", "must be a non-empty string")
        return value

    def seconds(self, data: Mapping[str, Any], prefix: str, key: str) -> float | None:
        value = data.get(key)
        if value is None:
            return None
        if not is_wait_seconds(value):
            raise self.error(f"{prefix}{key}", f"must be {WAIT_RULE}")
        return float(value)

    def url(self, data: Mapping[str, Any], prefix: str, key: str) -> str | None:
        value = self.text(data, prefix, key)
        if value is None:
            return None
        try:
            return validate_exchange_url(value)
        except ValueError as exc:
            raise self.error(f"{prefix}{key}", str(exc)) from exc

    def gateway(self, data: Mapping[str, Any], label: str) -> GatewayConfig:
        table = self.table(data, "gateway", _GATEWAY_KEYS, label)
        prefix = f"{label}."
        pair = table.get("pair")
        if pair is not None and not isinstance(pair, bool):
            raise self.error(f"{prefix}pair", "must be true or false")
        return GatewayConfig(
            name=self.text(table, prefix, "name"),
            address=self.text(table, prefix, "address"),
            adapter=self.text(table, prefix, "adapter"),
            scan_timeout=self.seconds(table, prefix, "scan_timeout"),
            challenge_timeout=self.seconds(table, prefix, "challenge_timeout"),
            gateway_timeout=self.seconds(table, prefix, "gateway_timeout"),
            pair=pair,
        )


_GATEWAY_KEYS = {
    "name",
    "address",
    "adapter",
    "scan_timeout",
    "challenge_timeout",
    "gateway_timeout",
    "pair",
}
_PROFILE_KEYS = {"gateway", "exchange_url", "exchange_timeout"}


def parse_user_config(text: str, path: str) -> UserConfig:
    """Parse the config file's ``text``; ``path`` names it in errors."""
    reader = _Reader(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise reader.error("(syntax)", str(exc)) from exc
    for key in data:
        if key not in ("gateway", "exchange", "profiles"):
            raise reader.error(key, "unknown key (known: exchange, gateway, profiles)")
    exchange = reader.table(data, "exchange", {"url", "timeout"})
    default = ProfileConfig(
        gateway=reader.gateway(data, "gateway"),
        exchange_url=reader.url(exchange, "exchange.", "url"),
        exchange_timeout=reader.seconds(exchange, "exchange.", "timeout"),
    )
    profiles_table = data.get("profiles", {})
    if not isinstance(profiles_table, dict):
        raise reader.error("profiles", "must be a table of [profiles.NAME] tables")
    profiles: dict[str, ProfileConfig] = {}
    for name in profiles_table:
        key = f"profiles.{name}"
        if not is_valid_profile(name):
            raise reader.error(key, "profile names are 1-64 of A-Z a-z 0-9 . _ - (no leading .)")
        table = reader.table(profiles_table, name, _PROFILE_KEYS, key)
        profiles[name] = ProfileConfig(
            gateway=reader.gateway(table, f"{key}.gateway"),
            exchange_url=reader.url(table, f"{key}.", "exchange_url"),
            exchange_timeout=reader.seconds(table, f"{key}.", "exchange_timeout"),
        )
    return UserConfig(path, default, MappingProxyType(profiles))


def load_user_config(path: str | None = None) -> UserConfig:
    """Read the config file; a missing default file is an empty config, a missing
    explicit ``path`` is an error."""
    target = path or default_config_path()
    try:
        with open(target, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError as exc:
        if path is None:
            return UserConfig(target)
        raise ConfigError(target, "(file)", "not found") from exc
    except OSError as exc:
        raise ConfigError(target, "(file)", exc.strerror or str(exc)) from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(target, "(file)", f"larger than {MAX_CONFIG_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(target, "(file)", "not UTF-8") from exc
    return parse_user_config(text, os.fspath(target))
