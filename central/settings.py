"""Resolve what a command uses: flags, then the chosen profile, then the config defaults.

Every config setting is also a flag, and a flag always wins.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from endorse_ble.central.credential_cache import is_valid_profile
from endorse_ble.central.errors import UsageError
from endorse_ble.central.gateway_options import gateway_flags
from endorse_ble.central.paths import default_config_path
from endorse_ble.central.user_config import GatewayConfig, load_user_config, validate_exchange_url
from endorse_ble.tokenlink.durations import WAIT_RULE, is_wait_seconds

DEFAULT_EXCHANGE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Settings:
    """What one command run uses."""

    profile: str | None
    gateway: GatewayConfig
    exchange_url: str | None
    exchange_timeout: float
    config_path: str

    def require_exchange_url(self) -> str:
        """The exchange URL, or a UsageError saying where to set it."""
        if self.exchange_url is None:
            where = f"[profiles.{self.profile}] exchange_url" if self.profile else "[exchange] url"
            raise UsageError(
                f"no exchange URL: pass --exchange-url, or set {where} in {self.config_path}"
            )
        return self.exchange_url


def add_config_options(
    parser: argparse.ArgumentParser, *, exchange: bool, profile_required: bool = False
) -> None:
    """Add --config and --profile (and --exchange-url/--exchange-timeout); a required
    --profile shows as such in usage and help."""
    group = parser.add_argument_group("configuration")
    group.add_argument(
        "--config", metavar="PATH", help=f"config file (default: {default_config_path()})"
    )
    group.add_argument(
        "--profile",
        metavar="NAME",
        required=profile_required,
        help="use [profiles.NAME] of the config file"
        + (" (required: it also names the cache entry)" if profile_required else ""),
    )
    if exchange:
        group.add_argument(
            "--exchange-url", metavar="URL", help="the exchange to POST the token to"
        )
        group.add_argument(
            "--exchange-timeout",
            type=float,
            metavar="S",
            help="seconds the whole exchange call may take, a slow answer included "
            f"(default: {DEFAULT_EXCHANGE_TIMEOUT:g})",
        )


def resolve(args: argparse.Namespace) -> Settings:
    """Merge flags, the profile and the config defaults; ConfigError/UsageError if invalid."""
    config = load_user_config(args.config)
    profile_name: str | None = args.profile
    if profile_name is not None and not is_valid_profile(profile_name):
        raise UsageError(f"invalid profile name {profile_name!r}: use 1-64 of A-Z a-z 0-9 . _ -")
    profile = config.profiles.get(profile_name or "")
    if profile_name is not None and profile is None and config.profiles:
        # With no [profiles.*] at all, --profile only names the cache entry; otherwise a
        # name that is not there is a typo, not a wish for the defaults.
        known = ", ".join(sorted(config.profiles))
        raise UsageError(f"unknown profile {profile_name!r} in {config.path} (known: {known})")
    gateway = gateway_flags(args)
    exchange_url = getattr(args, "exchange_url", None)
    exchange_timeout = getattr(args, "exchange_timeout", None)
    if exchange_url is not None:
        try:
            validate_exchange_url(exchange_url)
        except ValueError as exc:
            raise UsageError(f"--exchange-url: {exc}") from exc
    if exchange_timeout is not None and not is_wait_seconds(exchange_timeout):
        raise UsageError(f"--exchange-timeout: must be {WAIT_RULE}")
    for layer in (profile, config.default):
        if layer is None:
            continue
        gateway = gateway.over(layer.gateway)
        exchange_url = exchange_url or layer.exchange_url
        exchange_timeout = exchange_timeout or layer.exchange_timeout
    return Settings(
        profile=profile_name,
        gateway=gateway,
        exchange_url=exchange_url,
        exchange_timeout=exchange_timeout or DEFAULT_EXCHANGE_TIMEOUT,
        config_path=config.path,
    )
