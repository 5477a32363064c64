"""The exchange's configuration from environment variables: the Lambda's way.

``EXCHANGE_CONFIG_FILE`` names a TOML file to start from; ``EXCHANGE_<SECTION>_<KEY>``
variables override single settings and ``EXCHANGE_ALLOW`` the allowlist (JSON). The result
is validated as a file is (``config.config_from_mapping``).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from endorse_ble.exchange.config import (
    SECTIONS,
    TOP_LEVEL,
    ExchangeConfig,
    config_from_mapping,
)
from endorse_ble.exchange.errors import ConfigError

ENV_PREFIX = "EXCHANGE_"
ENV_CONFIG_FILE = "EXCHANGE_CONFIG_FILE"
ENV_ALLOW = "EXCHANGE_ALLOW"


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    # EXCHANGE_<SECTION>_<KEY> -> raw[section][key]; EXCHANGE_ALLOW holds the allowlist as
    # JSON (a list of {"imsi", "imei"?, "role_arn"?, "laptops"?}); EXCHANGE_MAX_BODY_BYTES
    # and EXCHANGE_PUBLIC_URL are top level.
    raw: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in {ENV_CONFIG_FILE, ENV_ALLOW}:
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        if rest in TOP_LEVEL:
            raw[rest] = value
            continue
        section = next((s for s in SECTIONS if rest.startswith(s + "_")), None)
        if section is None:
            raise ConfigError(name, "unknown environment setting")
        raw.setdefault(section, {})[rest[len(section) + 1 :]] = value
    if ENV_ALLOW in environ:
        try:
            raw["allow"] = json.loads(environ[ENV_ALLOW])
        except json.JSONDecodeError as exc:
            raise ConfigError(ENV_ALLOW, f"not JSON: {exc.msg}") from None
    return raw


def config_from_env(environ: Mapping[str, str]) -> ExchangeConfig:
    """Build the configuration from environment variables (the Lambda's way).

    ``EXCHANGE_CONFIG_FILE`` names a TOML file to start from; ``EXCHANGE_<SECTION>_<KEY>``
    variables override single settings and ``EXCHANGE_ALLOW`` the allowlist (JSON).
    ``AWS_REGION`` (set by Lambda itself) is the region unless ``EXCHANGE_AWS_REGION`` is set.
    """
    base: dict[str, Any] = {}
    path = environ.get(ENV_CONFIG_FILE)
    if path:
        try:
            base = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(ENV_CONFIG_FILE, f"cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(ENV_CONFIG_FILE, str(exc)) from None
    if "AWS_REGION" in environ:
        aws = base.setdefault("aws", {})
        if isinstance(aws, dict):
            aws.setdefault("region", environ["AWS_REGION"])
    for key, value in _env_overrides(environ).items():
        if key in SECTIONS and isinstance(base.get(key), dict):
            base[key].update(value)
        else:
            base[key] = value
    return config_from_mapping(base)
