"""Read a hostile HTTP body: at most ``limit`` bytes, all of it before a total deadline.

requests' read timeout bounds each socket read, not the body (field-facts.md): a server
that trickles a byte just inside every timeout would hold a caller forever. Each part's one
requests adapter hands this function the chunks it pulls (``resp.iter_content(...)`` or
``raw.read1`` with ``stream=True``) and a deadline; the total wait is then at most the
deadline plus one socket read timeout. Pure, with an injectable clock, so it is tested on
byte literals.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable

from endorse_ble.tokenlink.errors import EndorseBleError


class ReadRefusal(enum.Enum):
    """Why a body was abandoned."""

    TOO_LARGE = "too_large"
    TOO_SLOW = "too_slow"


class BoundedReadError(EndorseBleError):
    """A body broke its size or time bound; ``reason`` says which, ``limit`` the bound."""

    def __init__(self, reason: ReadRefusal, limit: float) -> None:
        self.reason = reason
        self.limit = limit
        if reason is ReadRefusal.TOO_LARGE:
            message = f"the body is over the {int(limit)}-byte limit; stopped reading"
        else:
            message = f"the body did not arrive within {limit:g} s; stopped reading"
        super().__init__(message)


def read_bounded(
    chunks: Iterable[bytes],
    limit: int,
    *,
    timeout_seconds: float,
    monotonic: Callable[[], float] = time.monotonic,
) -> bytes:
    """Join ``chunks`` until they end, within ``limit`` bytes and ``timeout_seconds`` in all.

    The clock starts when this is called. Pulling stops as soon as a bound is broken, so an
    endless body costs at most ``limit`` plus one chunk of memory.
    """
    deadline = monotonic() + timeout_seconds
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BoundedReadError(ReadRefusal.TOO_LARGE, limit)
        if monotonic() > deadline:
            raise BoundedReadError(ReadRefusal.TOO_SLOW, timeout_seconds)
        parts.append(chunk)
    return b"".join(parts)
