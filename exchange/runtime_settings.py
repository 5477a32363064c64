"""How the exchange runs: where its allowlist lives and how ``serve`` runs its server.

Sections of :class:`~endorse_ble.exchange.config.ExchangeConfig` (``[allowlist]`` and
``[server]``), read and validated by :mod:`endorse_ble.exchange.config`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AllowlistSettings:
    """Where the allowlist lives: the configuration itself, or a DynamoDB table."""

    backend: str = "config"
    table: str = "endorse-exchange-allowlist"
    # A revocation in the table takes effect within this time (at most a minute).
    cache_seconds: float = 30.0
    max_cached: int = 100_000


@dataclass(frozen=True)
class ServerSettings:
    """How ``endorse-exchange serve`` runs the app under waitress."""

    threads: int = 8
    connection_limit: int = 100
    backlog: int = 1024
    # Idle time allowed between two reads or writes on a connection.
    idle_timeout_seconds: float = 10.0
    # Total time allowed to receive one request, however it is paced.
    request_deadline_seconds: float = 10.0
    max_header_bytes: int = 8192
    # A body above max_body_bytes but at most this is read and thrown away, so a client
    # that writes its body before reading still reads the 413; beyond it, the server
    # refuses and closes.
    max_drain_bytes: int = 2 * 1024 * 1024
