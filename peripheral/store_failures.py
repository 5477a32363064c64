"""The token store's memory of failed fetches: the last error, and when to try again.

After a failure the next attempt waits for the backoff, a server's Retry-After, or the
fast retry of free failures while nothing is served (:func:`~endorse_ble.peripheral.
refresh_schedule.retry_delay`). The "token fetch failed" line is logged once a minute per
reason at most, with a count: an outage repeats the same failure every few seconds.
"""

from __future__ import annotations

import logging
import random

from endorse_ble.peripheral.log_limit import RateLimitedLog
from endorse_ble.peripheral.refresh_schedule import Backoff, JitterKind, retry_delay
from endorse_ble.peripheral.settings import RefreshSettings
from endorse_ble.peripheral.store_state import StoreError, StoreErrorReason

logger = logging.getLogger("endorse_ble.peripheral.token_store")
_limited = RateLimitedLog(logger)


class FailureRecord:
    """The last failure (None after a success) and the backoff over consecutive ones."""

    def __init__(self, settings: RefreshSettings, rng: random.Random, jitter: JitterKind) -> None:
        self.backoff = Backoff.from_settings(settings, rng, jitter)
        self._cap = settings.backoff_max_seconds
        self.detail: str | None = None
        self.reason: StoreErrorReason | None = None

    def reconfigure(self, settings: RefreshSettings) -> None:
        self.backoff = Backoff.from_settings(settings, self.backoff.rng, self.backoff.kind)
        self._cap = settings.backoff_max_seconds

    def clear(self) -> None:
        """A fetch succeeded: forget the failures."""
        self.detail = None
        self.reason = None
        self.backoff.reset()

    def record(self, exc: StoreError, *, serving: bool) -> float:
        """Note a failed fetch; returns the seconds to wait before the next attempt."""
        delay = retry_delay(
            self.backoff.next_delay(),
            retry_after=exc.retry_after,
            costs_no_bytes=exc.costs_no_bytes,
            serving=serving,
            cap=self._cap,
        )
        self.detail = exc.detail
        self.reason = exc.reason
        _limited.log(
            logging.WARNING,
            f"fetch-{exc.reason.value}",
            "token fetch failed (%s): %s; next attempt in %.1f s",
            exc.reason.value,
            exc.detail,
            delay,
        )
        return delay

    def backing_off(self, wait: float) -> StoreError | None:
        """The error for a request ``wait`` seconds before the next attempt is due."""
        if self.reason is None or wait <= 0:
            return None
        return StoreError(
            StoreErrorReason.BACKING_OFF,
            f"next attempt in {wait:.0f} s; last error: {self.detail}",
        )
