"""Pure expiry and backoff maths for the token refresher: no clock, no I/O.

Every function takes the times it needs as arguments, so the store can feed it a virtual
clock in tests and the real one in the field. Delays are relative seconds: the store adds
them to the *monotonic* clock, so a wall-clock jump after a token arrived does not move its
renewal (only the comparison of ``exp`` with the wall clock uses wall time).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Literal

from endorse_ble.peripheral.settings import RefreshSettings

JitterKind = Literal["full", "decorrelated"]

#: A renewal is never scheduled sooner than this after a token arrived: a source that keeps
#: handing out nearly expired tokens must not turn the refresher into a busy loop.
MIN_RENEW_DELAY_SECONDS = 1.0


def is_servable(expires_at: float, now_wall: float, leeway: float) -> bool:
    """True when a token expiring at ``expires_at`` may be handed out at ``now_wall``.

    A token within ``leeway`` seconds of ``exp`` is refused: by the time a central has read
    it over BLE and sent it on, it would be expired (RFC 7519 section 4.1.4 puts the check
    on the receiver, who may allow no leeway at all).
    """
    return expires_at - now_wall > leeway


def effective_issued_at(issued_at: float | None, received_wall: float) -> float:
    """When a token's lifetime started, as far as this gateway's wall clock can tell.

    A missing ``iat``, or one in the future of our (possibly skewed) wall clock, cannot
    be trusted to measure the lifetime; the moment we received the token can.
    """
    if issued_at is None or not math.isfinite(issued_at) or issued_at > received_wall:
        return received_wall
    return issued_at


def renew_delay(
    *,
    issued_at: float | None,
    expires_at: float,
    received_wall: float,
    settings: RefreshSettings,
) -> float:
    """Seconds after receipt at which to renew a token.

    The preferred point is ``renew_at_fraction`` of the token's lifetime, but no later than
    ``min_margin_seconds`` before ``exp``. When that point is already past on arrival (an
    old ``iat``, a short-lived token, a skewed clock), the token is renewed after the same
    fraction of its remaining servable life instead, still before ``exp - margin`` when the
    remaining life allows it. The result is at least :data:`MIN_RENEW_DELAY_SECONDS`.
    """
    fraction = settings.renew_at_fraction
    start = effective_issued_at(issued_at, received_wall)
    remaining = expires_at - received_wall
    by_fraction = start + fraction * (expires_at - start) - received_wall
    by_margin = remaining - settings.min_margin_seconds
    servable_for = remaining - settings.expiry_leeway_seconds
    preferred = min(by_fraction, by_margin)
    fallback = fraction * max(servable_for, 0.0)
    if by_margin > 0:
        fallback = min(fallback, by_margin)
    delay = min(max(preferred, fallback), max(servable_for, 0.0))
    return max(delay, MIN_RENEW_DELAY_SECONDS)


#: While nothing servable is held (laptops are being turned away), a failure that cost no
#: cellular bytes is retried at least this often, so the first fetch after Endorse is
#: reachable again comes within 10 s (this plus a fetch's connect time).
FAST_RETRY_SECONDS = 8.0


def retry_delay(
    backoff_delay: float,
    *,
    retry_after: float | None,
    costs_no_bytes: bool,
    serving: bool,
    cap: float,
) -> float:
    """The wait before the next attempt after a failed fetch.

    A server's Retry-After is honoured (never beyond ``cap``, the backoff maximum);
    otherwise a free failure while nothing is served is retried within
    :data:`FAST_RETRY_SECONDS`; otherwise the ordinary backoff applies.
    """
    if retry_after is not None:
        return min(max(backoff_delay, retry_after), cap)
    if costs_no_bytes and not serving:
        return min(backoff_delay, FAST_RETRY_SECONDS)
    return backoff_delay


def backoff_ceiling(attempt: int, initial: float, cap: float) -> float:
    """``min(cap, initial * 2**attempt)`` for attempt 0, 1, 2, ..., without overflowing."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    # 2**1100 overflows a float; past 64 doublings any sane cap has long been reached.
    return min(cap, initial * 2.0 ** min(attempt, 64))


def full_jitter(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """A delay uniform in ``[0, backoff_ceiling(attempt)]`` ("full jitter")."""
    return rng.uniform(0.0, backoff_ceiling(attempt, initial, cap))


def decorrelated_jitter(
    previous: float | None, initial: float, cap: float, rng: random.Random
) -> float:
    """A delay uniform in ``[initial, 3 * previous]``, capped ("decorrelated jitter")."""
    upper = max(initial, 3.0 * (initial if previous is None else previous))
    return min(cap, rng.uniform(initial, upper))


@dataclass
class Backoff:
    """Capped exponential backoff with jitter over consecutive failures.

    Stateful but pure: it only counts failures and draws from the injected ``rng``.
    """

    initial: float
    cap: float
    rng: random.Random
    kind: JitterKind = "full"
    attempt: int = 0
    previous: float | None = None

    @classmethod
    def from_settings(
        cls, settings: RefreshSettings, rng: random.Random, kind: JitterKind = "full"
    ) -> Backoff:
        """A backoff using the refresh settings' initial delay and cap."""
        return cls(
            initial=settings.backoff_initial_seconds,
            cap=settings.backoff_max_seconds,
            rng=rng,
            kind=kind,
        )

    def next_delay(self) -> float:
        """The delay before the next retry; each call counts one more failure."""
        if self.kind == "full":
            delay = full_jitter(self.attempt, self.initial, self.cap, self.rng)
        else:
            delay = decorrelated_jitter(self.previous, self.initial, self.cap, self.rng)
        self.attempt += 1
        self.previous = delay
        return max(0.0, delay)

    def reset(self) -> None:
        """Forget past failures (after a success)."""
        self.attempt = 0
        self.previous = None


@dataclass
class ChallengeBudget:
    """A token bucket for challenge fetches: ``burst`` at once, one more per ``refill`` s.

    Any nearby central may write a challenge, and each costs an Endorse request over a
    metered cellular link; the budget caps what a hostile one can spend.
    """

    burst: int
    refill_seconds: float
    available: float = field(init=False)
    updated: float | None = None

    def __post_init__(self) -> None:
        self.available = float(self.burst)

    def peek_available(self, now: float) -> float:
        """Challenges available at monotonic time ``now`` (fractional), spending nothing."""
        if self.updated is None:
            return min(float(self.burst), self.available)
        gained = (now - self.updated) / self.refill_seconds
        return min(float(self.burst), self.available + max(0.0, gained))

    def peek(self, now: float) -> float:
        """0.0 if a challenge is allowed at ``now``, else the seconds until one will be."""
        available = self.peek_available(now)
        return 0.0 if available >= 1.0 else (1.0 - available) * self.refill_seconds

    def take(self, now: float) -> float:
        """Spend one challenge at monotonic time ``now``: 0.0 if allowed, else the seconds
        until one will be."""
        self.available = self.peek_available(now)
        self.updated = now
        if self.available >= 1.0:
            self.available -= 1.0
            return 0.0
        return (1.0 - self.available) * self.refill_seconds
