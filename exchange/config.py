"""The exchange's settings: one frozen dataclass, read from TOML or from environment variables.

Both sources are reduced to the same nested mapping (``section -> key -> value`` plus an
``allow`` list) and validated by :func:`config_from_mapping`, so a key means the same thing
wherever it comes from. Unknown keys are refused: a typo must not silently weaken policy.
Everything here is pure except :func:`load_config_file`, which reads one file.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from endorse_ble.exchange.errors import ConfigError
from endorse_ble.exchange.runtime_settings import AllowlistSettings, ServerSettings
from endorse_ble.tokenlink.durations import WAIT_RULE, is_wait_seconds
from endorse_ble.tokenlink.endorse import (
    ENDORSE_AUDIENCE,
    ENDORSE_ISSUER,
    ENDORSE_SUBJECT,
    KEYSTORE_URL,
    KID_PATTERN,
)
from endorse_ble.tokenlink.key_binding import is_thumbprint
from endorse_ble.tokenlink.net import is_loopback_host
from endorse_ble.tokenlink.token import MAX_TOKEN_BYTES

DEFAULT_KID_PATTERN = KID_PATTERN.pattern
DEFAULT_KEYSTORE_URL = KEYSTORE_URL

# STS AssumeRole accepts DurationSeconds in 900..43200 (AWS STS API reference); a role's
# own MaxSessionDuration may be lower, which STS reports at call time.
MIN_DURATION = 900
MAX_DURATION = 43200
# AssumeRole called with credentials that themselves come from a role (a Lambda's
# execution role, an EC2/ECS task role) is role chaining, capped at one hour whatever the
# target role's MaxSessionDuration (IAM User Guide, "Role chaining").
ROLE_CHAINING_MAX_DURATION = 3600

# ITU-T E.212: an IMSI is at most 15 digits; 3GPP TS 23.003: an IMEI is 15 digits and an
# IMEISV 16. Looser lower bounds keep test identities short.
IMSI_PATTERN = re.compile(r"[0-9]{5,15}")
IMEI_PATTERN = re.compile(r"[0-9]{14,16}")


@dataclass(frozen=True)
class AllowEntry:
    """One SIM allowed to get credentials: its IMSI, optionally bound to one IMEI and role.

    ``laptops`` are the JWK thumbprints of the laptop keys that may use this SIM when the
    exchange requires key binding.
    """

    imsi: str
    imei: str | None = None
    role_arn: str | None = None
    laptops: tuple[str, ...] = ()
    #: False keeps the entry on the list but refuses the SIM (a lost gateway).
    enabled: bool = True


@dataclass(frozen=True)
class KeystoreSettings:
    """Where public keys come from and how hard the exchange may ask for them."""

    url: str = DEFAULT_KEYSTORE_URL
    kid_pattern: str = DEFAULT_KID_PATTERN
    cache_ttl_seconds: float = 3600.0
    # How long past its TTL a key is still served while it is being refreshed, or when the
    # refresh fails (a slow or unreachable keystore must not stall every device at once).
    max_stale_seconds: float = 3600.0
    negative_cache_seconds: float = 60.0
    fetches_per_minute: float = 10.0
    fetch_burst: int = 5
    timeout_seconds: float = 5.0
    max_pem_bytes: int = 16384
    min_rsa_bits: int = 2048
    max_cached_keys: int = 64


@dataclass(frozen=True)
class TokenSettings:
    """What a token must look like to be accepted."""

    issuer: str = ENDORSE_ISSUER
    audience: str = ENDORSE_AUDIENCE
    subject: str = ENDORSE_SUBJECT
    leeway_seconds: float = 30.0
    # Endorse lifetimes of 180, 600 and 6000 s have been seen; 7200 admits all of them.
    max_age_seconds: float = 7200.0
    max_bytes: int = MAX_TOKEN_BYTES
    require_nonce: bool = False
    # Each request must carry a proof signed by a laptop key enrolled for the SIM.
    require_key_binding: bool = False


@dataclass(frozen=True)
class ReplaySettings:
    """Where used token ids (jti) are remembered."""

    backend: str = "memory"
    table: str = "endorse-exchange-replay"
    max_entries: int = 100_000


@dataclass(frozen=True)
class AwsSettings:
    """How the STS and DynamoDB clients are built."""

    region: str = "us-east-1"
    endpoint_url: str | None = None
    max_attempts: int = 3
    connect_timeout_seconds: float = 3.0
    read_timeout_seconds: float = 5.0


@dataclass(frozen=True)
class CredentialSettings:
    """The role(s) assumed and the life of the credentials issued."""

    default_role_arn: str | None = None
    duration_seconds: int = 3600
    session_name_prefix: str = "endorse-"
    # True when the exchange's own AWS credentials come from a role (always on Lambda).
    role_chaining: bool = False


@dataclass(frozen=True)
class ExchangeConfig:
    """Every setting of the exchange (see docs/exchange-api.md, "Configuration")."""

    keystore: KeystoreSettings = field(default_factory=KeystoreSettings)
    token: TokenSettings = field(default_factory=TokenSettings)
    replay: ReplaySettings = field(default_factory=ReplaySettings)
    aws: AwsSettings = field(default_factory=AwsSettings)
    credentials: CredentialSettings = field(default_factory=CredentialSettings)
    allowlist: AllowlistSettings = field(default_factory=AllowlistSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    allow: tuple[AllowEntry, ...] = ()
    max_body_bytes: int = 16384
    # The URL clients POST to, as they see it (proofs name it in ``htu``); None: the URL
    # each request arrived at.
    public_url: str | None = None


#: The configuration's tables and the settings class each is read into.
SECTIONS: dict[str, type[Any]] = {
    "keystore": KeystoreSettings,
    "token": TokenSettings,
    "replay": ReplaySettings,
    "aws": AwsSettings,
    "credentials": CredentialSettings,
    "allowlist": AllowlistSettings,
    "server": ServerSettings,
}
#: Settings outside any table.
TOP_LEVEL: dict[str, type[Any]] = {"max_body_bytes": int, "public_url": str}


def _check_keystore_url(url: str) -> None:
    # https only: the keys decide who gets AWS credentials, so they must not be swappable
    # in transit. Plain http is accepted for loopback hosts alone (test keystores), which
    # no network attacker can sit between.
    parts = urlsplit(url)
    if parts.query or parts.fragment or not url.endswith("/"):
        raise ConfigError("keystore.url", "must be a prefix ending in '/', no query")
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and is_loopback_host(parts.hostname):
        return
    raise ConfigError("keystore.url", "must be https (http only for a loopback host)")


def _coerce(section: str, key: str, value: Any, wanted: Any) -> Any:
    name = f"{section}.{key}" if section else key
    if wanted is bool or wanted == "bool":
        if isinstance(value, str) and value.lower() in {"true", "1", "yes", "false", "0", "no"}:
            return value.lower() in {"true", "1", "yes"}
        if isinstance(value, bool):
            return value
        raise ConfigError(name, "must be true or false")
    if wanted in (int, "int"):
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise ConfigError(name, "must be an integer") from None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(name, "must be an integer")
    if wanted in (float, "float"):
        number = value
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise ConfigError(name, "must be a number") from None
        # NaN and infinity pass every "> 0" check yet mean nothing as a setting.
        if (
            isinstance(number, int | float)
            and not isinstance(number, bool)
            and math.isfinite(number)
        ):
            return float(number)
        raise ConfigError(name, "must be a finite number")
    if not isinstance(value, str):
        raise ConfigError(name, "must be a string")
    return value


def _section(name: str, cls: type[Any], raw: Any) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(name, "must be a table")
    fields = cls.__dataclass_fields__
    unknown = set(raw) - set(fields)
    if unknown:
        raise ConfigError(f"{name}.{sorted(unknown)[0]}", "unknown setting")
    values = {}
    for key, value in raw.items():
        wanted = fields[key].type.split(" | ")[0]
        values[key] = _coerce(name, key, value, wanted)
    return cls(**values)


def _laptops(where: str, item: Mapping[str, Any]) -> tuple[str, ...]:
    laptops = item.get("laptops", [])
    if not isinstance(laptops, list) or not all(is_thumbprint(jkt) for jkt in laptops):
        raise ConfigError(
            f"{where}.laptops", "must be a list of key thumbprints (43 base64url characters)"
        )
    return tuple(laptops)


def _check_public_url(url: str | None) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError("public_url", "must be an http(s) URL without query or fragment")


def _allow_entries(raw: Any) -> tuple[AllowEntry, ...]:
    if not isinstance(raw, list):
        raise ConfigError("allow", "must be a list of tables")
    entries = []
    for i, item in enumerate(raw):
        where = f"allow[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(where, "must be a table")
        unknown = set(item) - {"imsi", "imei", "role_arn", "laptops"}
        if unknown:
            raise ConfigError(f"{where}.{sorted(unknown)[0]}", "unknown setting")
        imsi, imei, role = item.get("imsi"), item.get("imei"), item.get("role_arn")
        if not isinstance(imsi, str) or not IMSI_PATTERN.fullmatch(imsi):
            raise ConfigError(f"{where}.imsi", "must be 5-15 digits")
        if imei is not None and (not isinstance(imei, str) or not IMEI_PATTERN.fullmatch(imei)):
            raise ConfigError(f"{where}.imei", "must be 14-16 digits")
        if role is not None and (not isinstance(role, str) or not role.startswith("arn:")):
            raise ConfigError(f"{where}.role_arn", "must be an ARN")
        entries.append(
            AllowEntry(imsi=imsi, imei=imei, role_arn=role, laptops=_laptops(where, item))
        )
    imsis = [e.imsi for e in entries]
    if len(set(imsis)) != len(imsis):
        raise ConfigError("allow", "an IMSI is listed twice")
    return tuple(entries)


def _validate(config: ExchangeConfig) -> None:
    _check_keystore_url(config.keystore.url)
    _check_public_url(config.public_url)
    try:
        re.compile(config.keystore.kid_pattern)
    except re.error as exc:
        raise ConfigError("keystore.kid_pattern", f"not a regular expression: {exc}") from None
    positive = {
        "keystore.cache_ttl_seconds": config.keystore.cache_ttl_seconds,
        "keystore.fetches_per_minute": config.keystore.fetches_per_minute,
        "keystore.fetch_burst": config.keystore.fetch_burst,
        "keystore.max_pem_bytes": config.keystore.max_pem_bytes,
        "keystore.max_cached_keys": config.keystore.max_cached_keys,
        "token.max_age_seconds": config.token.max_age_seconds,
        "token.max_bytes": config.token.max_bytes,
        "replay.max_entries": config.replay.max_entries,
        "aws.max_attempts": config.aws.max_attempts,
        "max_body_bytes": config.max_body_bytes,
        "server.threads": config.server.threads,
        "server.connection_limit": config.server.connection_limit,
        "server.backlog": config.server.backlog,
        "server.max_header_bytes": config.server.max_header_bytes,
        "allowlist.max_cached": config.allowlist.max_cached,
    }
    for name, value in positive.items():
        if value <= 0:
            raise ConfigError(name, "must be positive")
    waits = {
        "keystore.timeout_seconds": config.keystore.timeout_seconds,
        "aws.connect_timeout_seconds": config.aws.connect_timeout_seconds,
        "aws.read_timeout_seconds": config.aws.read_timeout_seconds,
        "server.idle_timeout_seconds": config.server.idle_timeout_seconds,
        "server.request_deadline_seconds": config.server.request_deadline_seconds,
    }
    for name, seconds in waits.items():
        if not is_wait_seconds(seconds):
            raise ConfigError(name, f"must be {WAIT_RULE}")
    for name, number in {
        "keystore.negative_cache_seconds": config.keystore.negative_cache_seconds,
        "keystore.max_stale_seconds": config.keystore.max_stale_seconds,
        "token.leeway_seconds": config.token.leeway_seconds,
    }.items():
        if number < 0:
            raise ConfigError(name, "must not be negative")
    if config.keystore.min_rsa_bits < 2048:
        raise ConfigError("keystore.min_rsa_bits", "must be at least 2048")
    if not MIN_DURATION <= config.credentials.duration_seconds <= MAX_DURATION:
        raise ConfigError("credentials.duration_seconds", f"must be {MIN_DURATION}..{MAX_DURATION}")
    if config.credentials.role_chaining:
        check_role_chaining(config)
    if config.server.max_drain_bytes < config.max_body_bytes:
        raise ConfigError("server.max_drain_bytes", "must be at least max_body_bytes")
    if config.allowlist.backend not in {"config", "dynamodb"}:
        raise ConfigError("allowlist.backend", "must be 'config' or 'dynamodb'")
    if not 0 <= config.allowlist.cache_seconds <= 60:
        raise ConfigError("allowlist.cache_seconds", "must be 0..60 (revocation within a minute)")
    if config.allowlist.backend == "dynamodb" and config.allow:
        raise ConfigError("allow", "the allowlist lives in DynamoDB; remove [[allow]] entries")
    if config.replay.backend not in {"memory", "dynamodb"}:
        raise ConfigError("replay.backend", "must be 'memory' or 'dynamodb'")
    default_role = config.credentials.default_role_arn
    if default_role is not None and not default_role.startswith("arn:"):
        raise ConfigError("credentials.default_role_arn", "must be an ARN")
    for i, entry in enumerate(config.allow):
        if entry.role_arn is None and default_role is None:
            raise ConfigError(f"allow[{i}].role_arn", "needed when there is no default role")


def check_role_chaining(config: ExchangeConfig) -> None:
    """Refuse a credentials duration STS would refuse on every request under role chaining."""
    duration = config.credentials.duration_seconds
    if duration > ROLE_CHAINING_MAX_DURATION:
        raise ConfigError(
            "credentials.duration_seconds",
            f"{duration} s is more than {ROLE_CHAINING_MAX_DURATION} s, the most STS grants "
            "when the exchange assumes roles with its own role's credentials (role chaining)",
        )


def config_from_mapping(raw: Mapping[str, Any]) -> ExchangeConfig:
    """Build and validate an :class:`ExchangeConfig` from a nested mapping (parsed TOML)."""
    unknown = set(raw) - set(SECTIONS) - set(TOP_LEVEL) - {"allow"}
    if unknown:
        raise ConfigError(sorted(unknown)[0], "unknown setting")
    parts: dict[str, Any] = {
        name: _section(name, cls, raw[name]) for name, cls in SECTIONS.items() if name in raw
    }
    if "allow" in raw:
        parts["allow"] = _allow_entries(raw["allow"])
    for key, wanted in TOP_LEVEL.items():
        if key in raw:
            parts[key] = _coerce("", key, raw[key], wanted)
    config = ExchangeConfig(**parts)
    _validate(config)
    return config


def parse_config_toml(text: str) -> ExchangeConfig:
    """Parse TOML text into a validated :class:`ExchangeConfig`."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("toml", str(exc)) from None
    return config_from_mapping(raw)


def load_config_file(path: Path) -> ExchangeConfig:
    """Read and validate a TOML configuration file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("config file", f"cannot read {path}: {exc.strerror}") from None
    return parse_config_toml(text)
