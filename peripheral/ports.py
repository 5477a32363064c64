"""The gateway's seams: small protocols the daemon is wired from in its entry point.

Real implementations live in one adapter module each (requests, pyserial, bless); tests
and the testbed substitute the *outside world* (simulators, a fake BlueZ), not these.
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass
from typing import Protocol

from endorse_ble.tokenlink.token import Token


class Clock(Protocol):
    """Time, injectable so expiry and backoff logic is tested without sleeping."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; for scheduling."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch; for comparing with a token's exp/iat."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock (a test clock advances virtual time instead)."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class TokenSource(Protocol):
    """Where tokens come from. Blocking: callers run it in a worker thread."""

    def fetch(self, nonce: str | None = None) -> Token:
        """Fetch a new token; with ``nonce``, one whose signed claims carry it."""
        ...


class Registration(enum.Enum):
    """Network registration as the modem reports it (3GPP TS 27.007 +CREG <stat>)."""

    NOT_REGISTERED = "not-registered"
    HOME = "home"
    SEARCHING = "searching"
    DENIED = "denied"
    UNKNOWN = "unknown"
    ROAMING = "roaming"

    @property
    def is_registered(self) -> bool:
        return self in (Registration.HOME, Registration.ROAMING)


@dataclass(frozen=True)
class ModemIdentity:
    """Who the modem and its SIM are."""

    imei: str | None
    imsi: str | None
    iccid: str | None


@dataclass(frozen=True)
class ModemHealth:
    """What the modem says about the radio link right now.

    ``fault`` is a short code (a ``ModemErrorReason`` value such as ``stuck`` or
    ``port_locked``) when the modem could not be read, and ``detail`` says what was seen.
    """

    registration: Registration
    signal_dbm: int | None
    operator: str | None
    detail: str = ""
    fault: str = ""


class Modem(Protocol):
    """The cellular modem. Blocking: callers run it in a worker thread."""

    def identity(self) -> ModemIdentity: ...

    def health(self) -> ModemHealth: ...


@dataclass(frozen=True)
class ModemSnapshot:
    """The modem's latest reading: health, identity and when it was taken (monotonic)."""

    health: ModemHealth
    identity: ModemIdentity
    taken_at: float


class NetworkView(Protocol):
    """The latest modem reading, without waiting for the modem (real: the daemon's)."""

    def latest(self) -> ModemSnapshot | None: ...
