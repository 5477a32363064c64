"""Challenge budgets per central, the hourly ceiling, and bonded laptops' own budget."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.peripheral.challenge_admission import (
    MAX_TRACKED_CENTRALS,
    ChallengeAdmission,
    Refusal,
)
from endorse_ble.peripheral.settings import RefreshSettings

SETTINGS = RefreshSettings(
    challenge_burst=3,
    challenge_refill_seconds=60.0,
    challenge_ceiling_per_hour=20,
    bonded_challenge_burst=10,
    bonded_challenge_refill_seconds=12.0,
)
STRANGER = "/org/bluez/hci0/dev_66_66_66_66_66_66"
LAPTOP = "/org/bluez/hci0/dev_C0_FF_EE_00_00_02"


def test_each_central_has_its_own_burst_then_refill() -> None:
    """A stranger that spent its burst is refused with the wait; another central is not."""
    gate = ChallengeAdmission(SETTINGS)
    for _ in range(3):
        assert gate.admit(STRANGER, bonded=False, now=0.0).admitted
    refused = gate.admit(STRANGER, bonded=False, now=0.0)
    assert refused.refusal is Refusal.BUDGET
    assert refused.retry_in == 60.0
    assert gate.admit(LAPTOP, bonded=False, now=0.0).admitted
    assert gate.admit(STRANGER, bonded=False, now=30.0).retry_in == 30.0
    assert gate.admit(STRANGER, bonded=False, now=60.0).admitted


def test_stranger_writing_every_second_never_spends_the_bonded_budget() -> None:
    """Two minutes of a stranger writing once a second (even with the laptop's address
    copied) leave a bonded laptop its 10 of 10; the stranger gets at most its budget."""
    gate = ChallengeAdmission(SETTINGS)
    stranger_admitted = laptop_admitted = 0
    for second in range(120):
        now = float(second)
        stranger_admitted += gate.admit(LAPTOP, bonded=False, now=now).admitted
        if second % 12 == 0 and laptop_admitted < 10:
            laptop_admitted += gate.admit(LAPTOP, bonded=True, now=now).admitted
    assert laptop_admitted == 10
    # The burst at 0-2 s, then one refill near 60 s (the next would be due at 120 s).
    assert stranger_admitted == 3 + 1


def test_address_rotation_is_capped_by_the_hourly_ceiling() -> None:
    """A stranger with a new address per write gets a new burst each time, but all plain
    challenges together stay under the ceiling; bonded writes are not counted or refused."""
    gate = ChallengeAdmission(SETTINGS)
    admitted = sum(
        gate.admit(f"/org/bluez/hci0/dev_{i:012x}", bonded=False, now=float(i)).admitted
        for i in range(1000)
    )
    assert admitted == 20 + 1000 * 20 // 3600  # the ceiling refills one per 180 s
    refused = gate.admit("/org/bluez/hci0/dev_new", bonded=False, now=1000.0)
    assert refused.refusal is Refusal.CEILING
    assert gate.admit(LAPTOP, bonded=True, now=1000.0).admitted
    assert gate.tracked() <= MAX_TRACKED_CENTRALS + 1


def test_a_ceiling_refusal_does_not_cost_the_central_its_own_budget() -> None:
    """Refused by the ceiling, a central's own bucket is untouched."""
    gate = ChallengeAdmission(replace(SETTINGS, challenge_ceiling_per_hour=1))
    assert gate.admit(STRANGER, bonded=False, now=0.0).admitted
    for _ in range(5):
        assert gate.admit(LAPTOP, bonded=False, now=0.0).refusal is Refusal.CEILING
    gate.reconfigure(replace(SETTINGS, challenge_ceiling_per_hour=100))
    assert all(gate.admit(LAPTOP, bonded=False, now=3600.0).admitted for _ in range(3))


@given(st.lists(st.tuples(st.integers(0, 400), st.booleans(), st.floats(0, 5)), max_size=300))
def test_never_more_than_the_budgets_allow(writes: list[tuple[int, bool, float]]) -> None:
    """Whatever centrals write, the plain challenges admitted stay within the ceiling's
    burst plus its refill, and table sizes stay bounded."""
    gate = ChallengeAdmission(SETTINGS)
    now = 0.0
    plain = 0
    for central, bonded, step in writes:
        now += step
        verdict = gate.admit(f"dev{central}", bonded=bonded, now=now)
        plain += verdict.admitted and not bonded
        assert verdict.admitted == (verdict.retry_in == 0.0)
    assert plain <= 20 + now / 180.0 + 1e-9
    assert gate.tracked() <= 2 * MAX_TRACKED_CENTRALS
