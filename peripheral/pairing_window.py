"""When strangers may bond with the gateway: the pairing window's state, without I/O.

The window is the daemon's business (``endorse-peripheral pair --open SECONDS``): short,
bounded, visible in STATUS, and closed by the daemon itself. This module only decides;
peripheral.pairing_service does the BlueZ calls and the timing with an injectable clock.
Times are the caller's: ``now`` on a monotonic clock for deciding, the wall clock only to
tell a person when the window ends.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

#: The longest window one request may open: long enough to walk to a laptop and pair it,
#: short enough that forgetting to close it does not leave the gateway open for long.
MAX_WINDOW_SECONDS = 600
MIN_WINDOW_SECONDS = 1
#: LE passkeys are six decimal digits (Core spec Vol 3, Part H, 2.3.5.3).
MAX_PASSKEY = 999_999


class WindowError(ValueError):
    """A window request out of bounds; the message is one line for the operator."""


def check_window_seconds(seconds: float) -> int:
    """``seconds`` as a whole number of seconds in range, or WindowError."""
    if not math.isfinite(seconds) or seconds != int(seconds):
        raise WindowError(f"the window is a whole number of seconds, not {seconds!r}")
    whole = int(seconds)
    if not MIN_WINDOW_SECONDS <= whole <= MAX_WINDOW_SECONDS:
        raise WindowError(
            f"the window must be {MIN_WINDOW_SECONDS}-{MAX_WINDOW_SECONDS} seconds, not {whole}"
        )
    return whole


@dataclass(frozen=True)
class OpenWindow:
    """An open window: when it ends on the monotonic clock, and on the wall clock."""

    ends_at: float
    ends_at_wall: float

    def remaining(self, now: float) -> float:
        return max(0.0, self.ends_at - now)

    def describe(self) -> str:
        """``pairing open until 10:12:03 UTC``: for STATUS (sent on changes only, so no
        countdown) and the CLI."""
        return f"pairing open until {time.strftime('%H:%M:%S UTC', time.gmtime(self.ends_at_wall))}"


class PairingWindow:
    """Open, closed, and whether a pairing request may be approved now."""

    def __init__(self) -> None:
        self._open: OpenWindow | None = None

    def open(self, seconds: float, now: float, now_wall: float) -> OpenWindow:
        """Open (or reopen, replacing the end) for ``seconds`` from ``now``."""
        whole = check_window_seconds(seconds)
        self._open = OpenWindow(now + whole, now_wall + whole)
        return self._open

    def close(self) -> OpenWindow | None:
        """Close; returns the window that was open, if any."""
        was, self._open = self._open, None
        return was

    def current(self, now: float) -> OpenWindow | None:
        """The window if it is open at ``now`` (one past its end counts as closed)."""
        if self._open is not None and now < self._open.ends_at:
            return self._open
        return None

    def due(self, now: float) -> bool:
        """Whether a window is still marked open although its end has passed."""
        return self._open is not None and now >= self._open.ends_at

    def may_pair(self, now: float) -> bool:
        """Whether the agent approves a pairing request arriving at ``now``."""
        return self.current(now) is not None


def check_passkey(value: int) -> str | None:
    """Config rule for ``[ble] pairing_passkey``: None when acceptable, else the problem."""
    if 0 <= value <= MAX_PASSKEY:
        return None
    return f"a passkey of six decimal digits (0-{MAX_PASSKEY})"
