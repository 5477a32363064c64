"""Log lines the outside world can trigger at will, at most once per interval per kind.

Anyone in radio range can write to the gateway, and an outage repeats the same failure
every few seconds: without a limit either fills the journal. The first line of a kind is
logged at once; repeats within ``interval_seconds`` are counted, and the next line after
the interval says how many were held back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

#: Default interval between two lines of one kind.
DEFAULT_INTERVAL_SECONDS = 60.0


class RateLimitedLog:
    """Logs through ``logger`` with a per-kind limit (thread-safe)."""

    def __init__(
        self,
        logger: logging.Logger,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._kinds: dict[str, tuple[float, int]] = {}  # kind -> (last logged, held back)

    def log(self, level: int, kind: str, message: str, *args: object) -> bool:
        """Log ``message % args`` unless ``kind`` was logged within the interval.

        Returns whether a line was written. ``kind`` should be a short, bounded word (a
        reason code), never text from the outside world.
        """
        if not self._logger.isEnabledFor(level):
            return False
        now = self._monotonic()
        with self._lock:
            last, held = self._kinds.get(kind, (None, 0))
            if last is not None and now - last < self._interval:
                self._kinds[kind] = (last, held + 1)
                return False
            self._kinds[kind] = (now, 0)
            if len(self._kinds) > 256:  # kinds are codes; bound the table all the same
                self._kinds = {kind: (now, 0)}
        if held:
            message += " (%d more like this in the last %.0f s)"
            args = (*args, held, now - (last or now))
        self._logger.log(level, message, *args)
        return True
