"""The refresher's pure maths: renewal points, backoff with jitter, servability, nonces."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.peripheral.refresh_schedule import (
    MIN_RENEW_DELAY_SECONDS,
    Backoff,
    ChallengeBudget,
    backoff_ceiling,
    decorrelated_jitter,
    effective_issued_at,
    full_jitter,
    is_servable,
    renew_delay,
)
from endorse_ble.peripheral.settings import RefreshSettings
from endorse_ble.peripheral.store_state import (
    StoreError,
    StoreErrorReason,
    safe_reason,
    validate_nonce,
)

NOW = 1_700_000_000.0
DEFAULTS = RefreshSettings()

settings_st = st.builds(
    RefreshSettings,
    renew_at_fraction=st.floats(0.1, 0.95),
    min_margin_seconds=st.floats(0, 600),
    backoff_initial_seconds=st.floats(0.1, 60),
    backoff_max_seconds=st.floats(60, 3600),
    expiry_leeway_seconds=st.floats(0, 60),
)


def test_renews_at_eight_tenths_of_a_fresh_600_second_token() -> None:
    """A token issued now with 600 s to live is renewed 480 s after receipt."""
    delay = renew_delay(issued_at=NOW, expires_at=NOW + 600, received_wall=NOW, settings=DEFAULTS)
    assert delay == 480.0


def test_margin_wins_when_the_fraction_would_renew_too_late() -> None:
    """With 100 s to live, 0.8 would leave 20 s; the 30 s margin moves renewal to 70 s."""
    delay = renew_delay(issued_at=NOW, expires_at=NOW + 100, received_wall=NOW, settings=DEFAULTS)
    assert delay == 70.0


@pytest.mark.parametrize("issued_at", [None, NOW + 120, NOW + 86_400])
def test_missing_or_future_iat_counts_from_receipt(issued_at: float | None) -> None:
    """An iat that is absent or ahead of our wall clock is replaced by the receipt time."""
    assert effective_issued_at(issued_at, NOW) == NOW
    delay = renew_delay(
        issued_at=issued_at, expires_at=NOW + 600, received_wall=NOW, settings=DEFAULTS
    )
    assert delay == 480.0


def test_old_iat_renews_within_the_remaining_life_not_at_once() -> None:
    """A token received 590 s after its iat is renewed before it stops being servable."""
    delay = renew_delay(
        issued_at=NOW - 590, expires_at=NOW + 10, received_wall=NOW, settings=DEFAULTS
    )
    assert MIN_RENEW_DELAY_SECONDS <= delay <= 10 - DEFAULTS.expiry_leeway_seconds


@given(
    settings=settings_st,
    lifetime=st.floats(1, 100_000),
    age=st.floats(-3600, 100_000),
    iat_missing=st.booleans(),
)
def test_renew_delay_properties(
    settings: RefreshSettings, lifetime: float, age: float, iat_missing: bool
) -> None:
    """Renewal is never immediate, and comes before exp - margin whenever that allows."""
    issued_at = None if iat_missing else NOW - age
    start = effective_issued_at(issued_at, NOW)
    expires_at = start + lifetime
    delay = renew_delay(
        issued_at=issued_at, expires_at=expires_at, received_wall=NOW, settings=settings
    )
    assert delay >= MIN_RENEW_DELAY_SECONDS
    by_margin = expires_at - settings.min_margin_seconds - NOW
    if by_margin >= MIN_RENEW_DELAY_SECONDS:
        assert NOW + delay <= expires_at - settings.min_margin_seconds + 1e-6
    servable_for = expires_at - settings.expiry_leeway_seconds - NOW
    if servable_for >= MIN_RENEW_DELAY_SECONDS:
        assert delay <= servable_for + 1e-6


def test_servable_boundary_is_exclusive_of_the_leeway() -> None:
    """A token exactly leeway seconds from exp is no longer handed out."""
    assert is_servable(NOW + 5.001, NOW, 5.0)
    assert not is_servable(NOW + 5.0, NOW, 5.0)
    assert not is_servable(NOW - 1, NOW, 0.0)


def test_backoff_ceiling_doubles_up_to_the_cap() -> None:
    """The ceiling sequence is 2, 4, 8, ... capped at 300, also for huge attempt counts."""
    assert [backoff_ceiling(n, 2.0, 300.0) for n in range(10)] == [
        2, 4, 8, 16, 32, 64, 128, 256, 300, 300,
    ]  # fmt: skip
    assert backoff_ceiling(10_000, 2.0, 300.0) == 300.0


@given(
    attempt=st.integers(0, 10_000),
    initial=st.floats(0.01, 100),
    cap=st.floats(0.01, 10_000),
    seed=st.integers(0, 2**32),
)
def test_full_jitter_stays_within_zero_and_the_cap(
    attempt: int, initial: float, cap: float, seed: int
) -> None:
    """A full-jitter delay is never negative and never above the ceiling or the cap."""
    delay = full_jitter(attempt, initial, cap, random.Random(seed))
    assert 0.0 <= delay <= min(cap, backoff_ceiling(attempt, initial, cap))


@given(
    previous=st.none() | st.floats(0, 10_000),
    initial=st.floats(0.01, 100),
    cap=st.floats(0.01, 10_000),
    seed=st.integers(0, 2**32),
)
def test_decorrelated_jitter_stays_within_bounds(
    previous: float | None, initial: float, cap: float, seed: int
) -> None:
    """A decorrelated-jitter delay lies in [min(initial, cap), cap]."""
    delay = decorrelated_jitter(previous, initial, cap, random.Random(seed))
    assert min(initial, cap) <= delay <= cap


@given(
    kind=st.sampled_from(["full", "decorrelated"]),
    seed=st.integers(0, 2**32),
    failures=st.integers(1, 60),
)
def test_backoff_never_negative_never_over_cap_and_resets(
    kind: str, seed: int, failures: int
) -> None:
    """Any run of failures gives delays in [0, cap]; after reset the first is small again."""
    backoff = Backoff(initial=2.0, cap=300.0, rng=random.Random(seed), kind=kind)  # type: ignore[arg-type]
    delays = [backoff.next_delay() for _ in range(failures)]
    assert all(0.0 <= d <= 300.0 for d in delays)
    backoff.reset()
    first = backoff.next_delay()
    assert first <= (2.0 if kind == "full" else 6.0)


def test_full_jitter_sequence_matches_the_formula_for_a_seed() -> None:
    """With a seeded rng the delays are uniform(0, min(300, 2 * 2**n)) drawn in order."""
    backoff = Backoff(initial=2.0, cap=300.0, rng=random.Random(7))
    reference = random.Random(7)
    expected = [reference.uniform(0, min(300, 2 * 2**n)) for n in range(12)]
    assert [backoff.next_delay() for _ in range(12)] == expected


@pytest.mark.parametrize(
    "nonce",
    [
        "",
        "short",
        "x" * 65,
        "has space here",
        "dots.are.not.allowed",
        "n\u00f6n-ascii-nonce",
        "percent%20escape",
        "newline\nnonce1",
    ],
)
def test_bad_nonces_are_refused(nonce: str) -> None:
    """Nonces outside 8..64 base64url characters raise BAD_NONCE without echoing them."""
    with pytest.raises(StoreError) as caught:
        validate_nonce(nonce)
    assert caught.value.reason is StoreErrorReason.BAD_NONCE
    if nonce:
        assert nonce not in str(caught.value)


@given(st.text(max_size=100))
def test_validate_nonce_accepts_exactly_the_base64url_alphabet(nonce: str) -> None:
    """Any string is either returned unchanged (8..64 base64url chars) or refused."""
    ok = 8 <= len(nonce) <= 64 and all(c.isascii() and (c.isalnum() or c in "-_") for c in nonce)
    if ok:
        assert validate_nonce(nonce) == nonce
    else:
        with pytest.raises(StoreError):
            validate_nonce(nonce)


def test_safe_reason_redacts_anything_jwt_shaped() -> None:
    """An error quoting a JWT is described by length and hash prefix, never verbatim."""
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl"
    text = safe_reason(RuntimeError(f"bad response body {{'token': '{jwt}'}}"))
    assert jwt not in text
    assert f"len={len(jwt)}" in text
    assert text.startswith("RuntimeError: ")


def test_challenge_budget_allows_a_burst_then_one_per_refill() -> None:
    """Three at once, then the fourth waits a full refill; after it, one more is allowed."""
    budget = ChallengeBudget(burst=3, refill_seconds=60.0)
    assert [budget.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert budget.take(100.0) == pytest.approx(60.0)
    assert budget.take(130.0) == pytest.approx(30.0)
    assert budget.take(160.0) == 0.0
    assert budget.take(160.0) > 0


@given(
    st.integers(1, 5),
    st.floats(1.0, 120.0),
    st.lists(st.floats(0.0, 50.0), min_size=1, max_size=60),
)
def test_challenge_budget_never_allows_more_than_burst_plus_refills(
    burst: int, refill: float, gaps: list[float]
) -> None:
    """Over any run of requests, allowed <= burst + elapsed / refill."""
    budget = ChallengeBudget(burst=burst, refill_seconds=refill)
    now, allowed = 0.0, 0
    for gap in gaps:
        now += gap
        wait = budget.take(now)
        assert wait >= 0
        allowed += wait == 0
    assert allowed <= burst + now / refill + 1e-9
