"""Which challenges from the air may cost an Endorse request: budgets per central (pure).

Every challenge is an Endorse request over a metered cellular link, and anyone in radio
range can write one. So each central BlueZ names (the ``device`` option of WriteValue)
has its own token bucket, and all plain challenges together stay under an hourly ceiling:
a stranger that changes its address at will gets a fresh bucket each time, but never more
than the ceiling. Bonded laptops write the Bonded Challenge characteristic, which BlueZ
delivers only over an encrypted link (``encrypt-write``), so its budget cannot be spent by
a stranger copying a bonded laptop's address; those writes are not counted against the
ceiling either, or strangers could lock bonded laptops out by spending it.

No clock, no I/O: times are monotonic seconds passed in by the caller.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from endorse_ble.peripheral.refresh_schedule import ChallengeBudget
from endorse_ble.peripheral.settings import RefreshSettings

#: Centrals remembered at once. A bucket that has refilled completely is forgotten first
#: (a new one starts full, so forgetting it changes nothing); beyond this the stalest
#: go, which at worst hands an address-rotating stranger a new burst: the ceiling still holds.
MAX_TRACKED_CENTRALS = 256
SECONDS_PER_HOUR = 3600.0
#: The key for a write whose ``device`` option was missing (an old BlueZ).
UNKNOWN_CENTRAL = "?"


class Refusal(enum.Enum):
    """Why a challenge was refused (Status ``refused.why``; docs/protocol.md)."""

    BUSY = "busy"  # another central's challenge is being fetched
    BUDGET = "budget"  # this central's budget is spent
    CEILING = "ceiling"  # all centrals together reached the hourly ceiling


@dataclass(frozen=True)
class Admission:
    """The verdict on one challenge: admitted when ``refusal`` is None."""

    refusal: Refusal | None = None
    #: Seconds until this central may try again (0 when admitted).
    retry_in: float = 0.0

    @property
    def admitted(self) -> bool:
        return self.refusal is None


class ChallengeAdmission:
    """Per-central token buckets for plain and bonded challenges, and the hourly ceiling."""

    def __init__(self, settings: RefreshSettings) -> None:
        self._settings = settings
        self._plain: dict[str, ChallengeBudget] = {}
        self._bonded: dict[str, ChallengeBudget] = {}
        self._ceiling = self._new_ceiling(settings)

    @staticmethod
    def _new_ceiling(settings: RefreshSettings) -> ChallengeBudget:
        per_hour = settings.challenge_ceiling_per_hour
        return ChallengeBudget(per_hour, SECONDS_PER_HOUR / per_hour)

    def reconfigure(self, settings: RefreshSettings) -> None:
        """Use new limits; buckets already spent stay spent (a reload is no free refill)."""
        self._settings = settings
        for budget in self._plain.values():
            budget.burst = settings.challenge_burst
            budget.refill_seconds = settings.challenge_refill_seconds
        for budget in self._bonded.values():
            budget.burst = settings.bonded_challenge_burst
            budget.refill_seconds = settings.bonded_challenge_refill_seconds
        self._ceiling.burst = settings.challenge_ceiling_per_hour
        self._ceiling.refill_seconds = SECONDS_PER_HOUR / settings.challenge_ceiling_per_hour

    def admit(self, central: str, *, bonded: bool, now: float) -> Admission:
        """Spend one challenge of ``central`` at monotonic ``now``, if its budget allows."""
        central = central or UNKNOWN_CENTRAL
        if bonded:
            budget = self._bucket(self._bonded, central, now, bonded=True)
            wait = budget.take(now)
            return Admission() if wait <= 0 else Admission(Refusal.BUDGET, wait)
        budget = self._bucket(self._plain, central, now, bonded=False)
        # Look before spending: a refusal by the ceiling must not also cost the central.
        own_wait = budget.peek(now)
        if own_wait > 0:
            return Admission(Refusal.BUDGET, own_wait)
        ceiling_wait = self._ceiling.take(now)
        if ceiling_wait > 0:
            return Admission(Refusal.CEILING, ceiling_wait)
        budget.take(now)
        return Admission()

    def tracked(self) -> int:
        """How many centrals have a bucket (bounded by MAX_TRACKED_CENTRALS per kind)."""
        return len(self._plain) + len(self._bonded)

    def _bucket(
        self, table: dict[str, ChallengeBudget], central: str, now: float, *, bonded: bool
    ) -> ChallengeBudget:
        budget = table.get(central)
        if budget is not None:
            return budget
        if len(table) >= MAX_TRACKED_CENTRALS:
            _forget(table, now)
        settings = self._settings
        if bonded:
            budget = ChallengeBudget(
                settings.bonded_challenge_burst, settings.bonded_challenge_refill_seconds
            )
        else:
            budget = ChallengeBudget(settings.challenge_burst, settings.challenge_refill_seconds)
        table[central] = budget
        return budget


def _forget(table: dict[str, ChallengeBudget], now: float) -> None:
    """Make room: drop every full bucket, else the one used longest ago."""
    full = [key for key, budget in table.items() if budget.peek_available(now) >= budget.burst]
    for key in full:
        del table[key]
    if len(table) >= MAX_TRACKED_CENTRALS:
        stalest = min(table, key=lambda key: table[key].updated or 0.0)
        del table[stalest]
