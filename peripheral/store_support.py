"""The token store's plumbing: its subscribers, its sleep, and its tasks' loose ends.

Kept apart from :mod:`endorse_ble.peripheral.token_store` so that module holds only the
fetch and renewal logic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from endorse_ble.peripheral.ports import Clock
from endorse_ble.peripheral.store_state import StoreSnapshot, safe_reason
from endorse_ble.tokenlink.token import Token

logger = logging.getLogger("endorse_ble.peripheral.token_store")

Subscriber = Callable[[StoreSnapshot], None]


class Subscribers:
    """Callbacks that hear of each new snapshot, once per change."""

    def __init__(self) -> None:
        self._callbacks: list[Subscriber] = []
        self._published: StoreSnapshot | None = None

    def add(self, callback: Subscriber) -> Callable[[], None]:
        """Add ``callback``; returns the function that removes it again."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    def publish(self, snapshot: StoreSnapshot) -> None:
        """Hand ``snapshot`` to every callback, unless it equals the last one published."""
        if snapshot == self._published:
            return
        self._published = snapshot
        for callback in list(self._callbacks):
            try:
                callback(snapshot)
            except Exception:
                # A broken listener (say, a GATT notify on a vanished link) must not stop
                # the store; it is logged with its traceback and the others still run.
                logger.exception("token store subscriber %r failed", callback)


async def sleep_or_wake(wake: asyncio.Event, clock: Clock, delay: float | None) -> None:
    """Return when ``wake`` is set or ``delay`` seconds passed on ``clock`` (None: never)."""
    waiters: list[asyncio.Task[object]] = [asyncio.create_task(wake.wait())]
    if delay is not None:
        waiters.append(asyncio.create_task(clock.sleep(delay)))
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


def describe(token: Token) -> str:
    """A token in a log line: never the token, only its size, hash prefix and expiry."""
    return f"len={token.size} sha256={token.fingerprint} exp={token.expires_at}"


def report_refresher_end(task: asyncio.Task[None]) -> None:
    # The refresher only ever ends by cancellation; anything else is a bug to shout about.
    if not task.cancelled() and (exc := task.exception()) is not None:
        logger.error("token store refresher died: %s", safe_reason(exc), exc_info=exc)


def consume_result(task: asyncio.Task[Token]) -> None:
    # Fetch failures are logged and recorded where they happen; a fetch that nobody awaited
    # (the refresher's own) must not also warn "exception was never retrieved".
    if not task.cancelled():
        task.exception()
