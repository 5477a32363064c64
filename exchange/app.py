"""Wire the exchange from its configuration: the one place that picks real adapters.

Used by both entry points (the Lambda handler and ``endorse-exchange serve``); tests and
benchmarks may pass their own key fetcher.
"""

from __future__ import annotations

import os

from endorse_ble.exchange.allowlist import AllowlistSource, CachedAllowlist, ConfigAllowlist
from endorse_ble.exchange.allowlist_dynamodb import DynamoAllowlist
from endorse_ble.exchange.aws_clients import dynamodb_client, sts_client
from endorse_ble.exchange.config import ExchangeConfig
from endorse_ble.exchange.config_env import config_from_env
from endorse_ble.exchange.issuer import StsIssuer
from endorse_ble.exchange.key_binding import KeyBindingChecker
from endorse_ble.exchange.keystore import KeyFetcher, KeyStore
from endorse_ble.exchange.keystore_http import HttpKeyFetcher
from endorse_ble.exchange.policy import AccessPolicy
from endorse_ble.exchange.replay import DynamoReplayGuard, MemoryReplayGuard, ReplayGuard
from endorse_ble.exchange.service import ExchangeService
from endorse_ble.exchange.verifier import TokenVerifier
from endorse_ble.exchange.wsgi import ExchangeApp


def build_replay_guard(config: ExchangeConfig) -> ReplayGuard:
    """The replay backend the configuration names."""
    if config.replay.backend == "dynamodb":
        return DynamoReplayGuard(dynamodb_client(config.aws), config.replay.table)
    return MemoryReplayGuard(config.replay.max_entries)


def build_allowlist(config: ExchangeConfig) -> AllowlistSource:
    """The allowlist the configuration names (DynamoDB behind a short cache, or its own)."""
    settings = config.allowlist
    if settings.backend == "dynamodb":
        table = DynamoAllowlist(dynamodb_client(config.aws), settings.table)
        return CachedAllowlist(table, settings.cache_seconds, settings.max_cached)
    return ConfigAllowlist(config.allow)


def build_service(config: ExchangeConfig, key_fetcher: KeyFetcher | None = None) -> ExchangeService:
    """An :class:`ExchangeService` with real adapters (HTTP keystore, STS, replay backend).

    Builds clients but performs no network I/O.
    """
    if key_fetcher is None:
        key_fetcher = HttpKeyFetcher(config.keystore.timeout_seconds)
    keys = KeyStore(config.keystore, key_fetcher)
    replay = build_replay_guard(config)
    key_binding = None
    if config.token.require_key_binding:
        # Proof ids go to the same store as token ids, under their own prefix.
        key_binding = KeyBindingChecker(replay, config.token.leeway_seconds, config.public_url)
    return ExchangeService(
        TokenVerifier(config.token, keys),
        AccessPolicy(
            build_allowlist(config),
            config.credentials.default_role_arn,
            config.token.require_nonce,
        ),
        replay,
        StsIssuer(
            sts_client(config.aws),
            config.credentials.duration_seconds,
            config.credentials.session_name_prefix,
        ),
        max_body_bytes=config.max_body_bytes,
        replay_margin_seconds=config.token.leeway_seconds,
        key_binding=key_binding,
    )


def build_app(config: ExchangeConfig, key_fetcher: KeyFetcher | None = None) -> ExchangeApp:
    """The WSGI app of the exchange the configuration describes."""
    return ExchangeApp(build_service(config, key_fetcher))


def app_from_env() -> ExchangeApp:
    """The WSGI app configured as the Lambda is (``EXCHANGE_*``, ``EXCHANGE_CONFIG_FILE``).

    For another WSGI server, e.g. ``gunicorn 'endorse_ble.exchange.app:app_from_env()'``.
    """
    return build_app(config_from_env(os.environ))
