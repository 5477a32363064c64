"""Who is on the allowlist: the configuration's entries, or a slower source behind a cache.

The configuration's ``[[allow]]`` entries (or ``EXCHANGE_ALLOW``) suit a few SIMs. A fleet
keeps its allowlist in DynamoDB (:mod:`endorse_ble.exchange.allowlist_dynamodb`), whose
lookups are cached for ``allowlist.cache_seconds`` (at most a minute), so a revocation
takes effect within that time. Pure: no I/O here.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from endorse_ble.exchange.config import AllowEntry


class AllowlistSource(Protocol):
    """Find a SIM's allowlist entry."""

    def lookup(self, imsi: str) -> AllowEntry | None:
        """The entry for ``imsi``, None when it is not listed.

        Raises ExchangeError(ALLOWLIST_UNAVAILABLE) when the list cannot be read.
        """
        ...


class ConfigAllowlist:
    """The allowlist written in the configuration."""

    def __init__(self, entries: tuple[AllowEntry, ...]) -> None:
        self._entries = {entry.imsi: entry for entry in entries}

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, imsi: str) -> AllowEntry | None:
        """The configured entry for ``imsi``."""
        return self._entries.get(imsi)


class CachedAllowlist:
    """Remember answers of a slower source (hits and misses) for ``ttl`` seconds.

    Failures are not cached: a table that cannot be read refuses, it never grants.
    """

    def __init__(
        self,
        source: AllowlistSource,
        ttl_seconds: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._cache: OrderedDict[str, tuple[AllowEntry | None, float]] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, imsi: str) -> AllowEntry | None:
        """The entry for ``imsi``, from the cache while it is younger than the TTL."""
        with self._lock:
            hit = self._cache.get(imsi)
            if hit is not None and hit[1] > self._clock():
                return hit[0]
        entry = self._source.lookup(imsi)
        with self._lock:
            self._cache[imsi] = (entry, self._clock() + self._ttl)
            self._cache.move_to_end(imsi)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return entry
