"""Read the gateway's TOML configuration into a
:class:`~endorse_ble.peripheral.settings.GatewayConfig`.

Pure apart from reading the one file. Every refusal is a :class:`ConfigError` whose
message is one line naming the file, the dotted key and what is expected, e.g.::

    /etc/endorse-ble/config.toml: refresh.renew_at_fraction: expected a number strictly
    between 0 and 1, got 1.5

Sections and keys are those of ``config.example.toml`` (``[log] level`` maps to
``GatewayConfig.log_level``); keys left out take the defaults in
``endorse_ble.peripheral.settings``.

Decisions worth knowing:

* ``endorse.url`` must be ``https``; plain ``http`` is accepted only towards a loopback
  host (127.0.0.0/8, ::1, localhost) so testers can point the gateway at the simulator.
  A token is a bearer credential: it must never cross a network in clear.
* ``[cellular]`` names exactly one way to tie traffic to the SIM's link: ``interface``
  (default ``ppp0``) or ``source_address``. Setting ``source_address`` alone replaces the
  default interface; setting both is refused; there is no way to turn binding off.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
import types
import typing
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from endorse_ble.peripheral.errors import ConfigError, ConfigReason
from endorse_ble.peripheral.pairing_window import check_passkey
from endorse_ble.peripheral.settings import (
    BleSettings,
    CellularSettings,
    EndorseSettings,
    GatewayConfig,
    ModemSettings,
    RefreshSettings,
)
from endorse_ble.tokenlink.net import is_loopback_host

#: Where the package and the install guide put the configuration (run's and
#: check-config's default).
DEFAULT_CONFIG = "/etc/endorse-ble/config.toml"

#: A configuration file is a few hundred bytes; refuse to parse anything absurd.
MAX_CONFIG_BYTES = 1024 * 1024

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: TOML section -> settings class. ``[log]`` is handled apart (one key, on GatewayConfig).
SECTIONS: dict[str, type[Any]] = {
    "endorse": EndorseSettings,
    "cellular": CellularSettings,
    "modem": ModemSettings,
    "refresh": RefreshSettings,
    "ble": BleSettings,
}
_LOG_KEYS: dict[str, Any] = {"level": str}

# A Linux interface name: at most IFNAMSIZ-1 = 15 bytes, no '/', no whitespace, not . or ..
_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")
_HCI = re.compile(r"hci[0-9]{1,3}")
# Legacy advertising data is 31 bytes; a Complete Local Name AD structure has a 2-byte
# header (Core Specification Supplement, Part A, 1.2), leaving 29 bytes for the name.
MAX_BLE_NAME_BYTES = 29


def config_keys() -> list[tuple[str, str]]:
    """Every (section, key) the file format knows, in documentation order."""
    keys = [(s, f.name) for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]
    return [*keys, ("log", "level")]


def load_config(path: str | Path) -> GatewayConfig:
    """Read and validate the TOML file at ``path``; raise :class:`ConfigError` if unusable."""
    source = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(ConfigReason.MISSING_FILE, source, None, "file not found") from None
    except OSError as exc:
        raise ConfigError(
            ConfigReason.UNREADABLE, source, None, f"cannot read: {exc.strerror or exc}"
        ) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            ConfigReason.UNREADABLE, source, None, f"larger than {MAX_CONFIG_BYTES} bytes"
        )
    # Windows editors start UTF-8 files with a byte-order mark, which TOML does not allow.
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            ConfigReason.BAD_SYNTAX, source, None, f"not UTF-8 text (byte {exc.start})"
        ) from None
    return parse_config(text, source)


def parse_config(text: str, source: str = "<config>") -> GatewayConfig:
    """Parse TOML ``text`` (from ``source``, named in errors) into a validated config."""
    import tomllib  # stdlib; imported here so importing this module stays cheap

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(ConfigReason.BAD_SYNTAX, source, None, f"invalid TOML: {exc}") from None
    return config_from_mapping(data, source)


def config_from_mapping(data: Mapping[str, Any], source: str = "<config>") -> GatewayConfig:
    """Validate an already-parsed TOML document into a :class:`GatewayConfig`."""
    known = [*SECTIONS, "log"]
    for name, value in data.items():
        if name not in known:
            raise ConfigError(
                ConfigReason.UNKNOWN_KEY, source, name,
                f"unknown top-level key; expected one of the sections {', '.join(known)}",
            )  # fmt: skip
        if not isinstance(value, dict):
            raise ConfigError(
                ConfigReason.WRONG_TYPE, source, name, f"expected a table [{name}], got {value!r}"
            )
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        values = _typed_section(data.get(name, {}), name, hints, source)
        sections[name] = cls(**_section_defaults(name, values))
    log = _typed_section(data.get("log", {}), "log", _LOG_KEYS, source)
    # Log levels are case-insensitive in the file and kept upper-case, as logging names them.
    level = log.get("level", GatewayConfig().log_level).upper()
    config = GatewayConfig(log_level=level, **sections)
    _check_values(config, source)
    return config


def _section_defaults(section: str, values: dict[str, Any]) -> dict[str, Any]:
    if section == "cellular" and "source_address" in values and "interface" not in values:
        # A source address given on its own replaces the default interface binding.
        values = {**values, "interface": None}
    return values


def _typed_section(
    table: Mapping[str, Any], section: str, hints: Mapping[str, Any], source: str
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{section}.{key}"
        if key not in hints:
            raise ConfigError(
                ConfigReason.UNKNOWN_KEY, source, dotted,
                f"unknown key; expected one of {', '.join(hints)}",
            )  # fmt: skip
        out[key] = _typed_value(value, hints[key], dotted, source)
    return out


def _typed_value(value: Any, hint: Any, dotted: str, source: str) -> Any:
    """``value`` checked against the settings field's type (TOML has no null)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
        origin = typing.get_origin(hint)
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        if value in choices:
            return value
        expected = "one of " + ", ".join(repr(c) for c in choices)
    elif hint is bool:
        if isinstance(value, bool):
            return value
        expected = "true or false"
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        expected = "an integer"
    elif hint is float:
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if numeric and math.isfinite(value):
            return float(value)
        expected = "a finite number"
    elif hint is str:
        if isinstance(value, str):
            return value
        expected = "a string"
    else:  # pragma: no cover - a settings field of a type this loader does not know
        raise TypeError(f"unsupported settings type {hint!r} for {dotted}")
    reason = ConfigReason.BAD_VALUE if origin is typing.Literal else ConfigReason.WRONG_TYPE
    raise ConfigError(reason, source, dotted, f"expected {expected}, got {value!r}")


# -- value rules: each returns None when fine, or what was expected -------------------------

Rule = Callable[[Any], str | None]


def _between(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> Rule:
    def rule(v: Any) -> str | None:
        ok = (lo < v if lo_open else lo <= v) and (v < hi if hi_open else v <= hi)
        if ok:
            return None
        if lo_open and hi_open:
            return f"a number strictly between {lo:g} and {hi:g}"
        left = "more than" if lo_open else "at least"
        return f"{left} {lo:g} and at most {hi:g}"

    return rule


def _url(v: str) -> str | None:
    expected = "an https:// URL (http:// only to a loopback host)"
    try:
        parts = urllib.parse.urlsplit(v)
        port = parts.port  # raises ValueError on a bad port
    except ValueError:
        return expected
    host = parts.hostname
    if not host or parts.username is not None or parts.fragment or port == 0:
        return expected + " with a host, no user info and no fragment"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and is_loopback_host(host):
        return None
    return expected


def _ifname(v: str | None) -> str | None:
    if v is None or (_IFNAME.fullmatch(v) and v not in (".", "..")):
        return None
    return "a network interface name (1-15 of A-Z a-z 0-9 _ . -), e.g. ppp0 or wwan0"


def _address(v: str | None) -> str | None:
    if v is None:
        return None
    try:
        addr = ipaddress.ip_address(v)
    except ValueError:
        return "an IPv4 or IPv6 address of this host"
    if addr.is_unspecified or addr.is_multicast:
        return "a unicast address of this host"
    return None


def _nonempty_path(v: str) -> str | None:
    if v and "\0" not in v and len(v) <= 4096:
        return None
    return "a serial device path or pyserial URL, e.g. /dev/ttyUSB2"


def _modem_id(v: str | None) -> str | None:
    if v is None or (0 < len(v) <= 64 and v.isascii() and v.isprintable() and v.strip() == v):
        return None
    return "a modem's EquipmentIdentifier as ModemManager shows it (1-64 printable characters)"


def _hci(v: str) -> str | None:
    return None if _HCI.fullmatch(v) else "a BlueZ adapter name such as hci0"


def _ble_name(v: str) -> str | None:
    if 0 < len(v.encode()) <= MAX_BLE_NAME_BYTES and v.isprintable():
        return None
    return f"a printable name of 1-{MAX_BLE_NAME_BYTES} UTF-8 bytes"


def _log_level(v: str) -> str | None:
    return None if v in LOG_LEVELS else "one of " + ", ".join(LOG_LEVELS)


RULES: dict[str, Rule] = {
    "endorse.url": _url,
    "endorse.connect_timeout_seconds": _between(0, 300, lo_open=True),
    "endorse.read_timeout_seconds": _between(0, 300, lo_open=True),
    "endorse.max_body_bytes": _between(1024, 1024 * 1024),
    "cellular.interface": _ifname,
    "cellular.source_address": _address,
    "modem.backend": lambda v: None,  # its Literal type already limited it to the choices
    "modem.modem_id": _modem_id,
    "modem.port": _nonempty_path,
    "modem.baudrate": _between(300, 4_000_000),
    "modem.command_timeout_seconds": _between(0, 300, lo_open=True),
    "modem.poll_interval_seconds": _between(1, 86400),
    "refresh.mode": lambda v: None,  # its Literal type already limited it to the choices
    "refresh.renew_at_fraction": _between(0, 1, lo_open=True, hi_open=True),
    "refresh.min_margin_seconds": _between(0, 86400),
    "refresh.backoff_initial_seconds": _between(0, 3600, lo_open=True),
    "refresh.backoff_max_seconds": _between(0, 86400, lo_open=True),
    "refresh.expiry_leeway_seconds": _between(0, 3600),
    "refresh.challenge_burst": _between(1, 100),
    "refresh.challenge_refill_seconds": _between(0, 86400, lo_open=True),
    "refresh.challenge_ceiling_per_hour": _between(1, 3600),
    "refresh.bonded_challenge_burst": _between(1, 100),
    "refresh.bonded_challenge_refill_seconds": _between(0, 86400, lo_open=True),
    "ble.adapter": _hci,
    "ble.name": _ble_name,
    "ble.require_encryption": lambda v: None,  # a bool: its type is the whole rule
    "ble.pairing_passkey": lambda v: None if v is None else check_passkey(v),
    "log.level": _log_level,
}


def config_value(config: GatewayConfig, section: str, key: str) -> Any:
    """The value of ``[section] key`` in ``config``."""
    if (section, key) == ("log", "level"):
        return config.log_level
    return getattr(getattr(config, section), key)


def _check_values(config: GatewayConfig, source: str) -> None:
    for section, key in config_keys():
        dotted = f"{section}.{key}"
        value = config_value(config, section, key)
        expected = RULES[dotted](value)
        if expected is not None:
            raise ConfigError(
                ConfigReason.BAD_VALUE, source, dotted, f"expected {expected}, got {value!r}"
            )
    cellular, refresh = config.cellular, config.refresh
    if config.modem.modem_id is not None and config.modem.backend != "modemmanager":
        raise ConfigError(
            ConfigReason.CONFLICT, source, "modem.modem_id",
            'expected only with backend = "modemmanager" (it names a ModemManager modem)',
        )  # fmt: skip
    if cellular.interface is not None and cellular.source_address is not None:
        raise ConfigError(
            ConfigReason.CONFLICT, source, "cellular",
            "expected interface or source_address, not both",
        )  # fmt: skip
    if cellular.interface is None and cellular.source_address is None:
        raise ConfigError(
            ConfigReason.CONFLICT, source, "cellular", "expected interface or source_address"
        )
    if refresh.backoff_max_seconds < refresh.backoff_initial_seconds:
        raise ConfigError(
            ConfigReason.CONFLICT, source, "refresh.backoff_max_seconds",
            f"expected at least refresh.backoff_initial_seconds "
            f"({refresh.backoff_initial_seconds:g}), got {refresh.backoff_max_seconds:g}",
        )  # fmt: skip
    if refresh.min_margin_seconds <= refresh.expiry_leeway_seconds:
        # Renewing after a token stopped being handed out would leave a gap with none.
        raise ConfigError(
            ConfigReason.CONFLICT, source, "refresh.min_margin_seconds",
            f"expected more than refresh.expiry_leeway_seconds "
            f"({refresh.expiry_leeway_seconds:g}), got {refresh.min_margin_seconds:g}",
        )  # fmt: skip
