"""Recovery after an Endorse outage, on virtual time: the first fetch after Endorse is
reachable again comes within 10 s, for every gateway whatever its jitter."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import pytest

from endorse_ble.peripheral.errors import EndorseFetchError, EndorseFetchReason
from endorse_ble.peripheral.settings import RefreshSettings
from endorse_ble.peripheral.store_state import StoreErrorReason
from endorse_ble.peripheral.token_store import TokenStore
from endorse_ble.testbed.clock import VirtualClock
from endorse_ble.testbed.endorse_keys import EndorseSigner
from endorse_ble.testbed.inprocess_endorse import InProcessEndorse
from endorse_ble.testbed.outage import START, recovery_seconds
from endorse_ble.testbed.settable_modem import SettableModem
from endorse_ble.tokenlink.token import Token

GATEWAYS = 8


@pytest.fixture(scope="module")
def signer() -> EndorseSigner:
    key_holder = EndorseSigner()
    _ = key_holder.private_key
    return key_holder


async def test_first_fetch_after_an_outage_comes_within_10_s_for_every_gateway(
    signer: EndorseSigner,
) -> None:
    """90 s of refused connections with 20 s tokens and default backoff settings."""
    delays = [await recovery_seconds(signer, seed) for seed in range(GATEWAYS)]
    assert all(d >= 0 for d in delays)
    assert max(delays) <= 10.0, delays


async def test_while_a_token_is_served_the_ordinary_backoff_applies(
    signer: EndorseSigner,
) -> None:
    """With a valid token still served, refused renewals back off beyond 10 s."""
    clock = VirtualClock(start=START)
    clock.attach()
    endorse = InProcessEndorse(signer, clock, lifetime=3600)
    store = TokenStore(endorse, RefreshSettings(), clock, rng=random.Random(3))
    async with store:
        await clock.settle()
        endorse.refusing = True
        await clock.advance(2880 + 600)  # the renewal point, then ten minutes of refusals
        times = endorse.call_times[1:]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert store.current() is not None
        assert max(gaps) > 10.0


@dataclass
class SlowingEndorse(InProcessEndorse):
    """Endorse answering 429 with Retry-After: 60 to its first ``limited`` calls."""

    limited: int = 0

    def fetch(self, nonce: str | None = None) -> Token:
        if self.limited > 0:
            self.limited -= 1
            self.calls.append(nonce)
            self.call_times.append(self.clock.monotonic())
            raise EndorseFetchError(
                EndorseFetchReason.RATE_LIMITED, "limited (simulated)", status=429, retry_after=60
            )
        return super().fetch(nonce)


async def test_retry_after_is_honoured(signer: EndorseSigner) -> None:
    """Asked to wait 60 s, the store waits 60 s, not its 2 s initial backoff."""
    clock = VirtualClock(start=START)
    clock.attach()
    endorse = SlowingEndorse(signer, clock, limited=2)
    async with TokenStore(endorse, RefreshSettings(), clock, rng=random.Random(1)) as store:
        await clock.advance(200)
        assert store.current() is not None
    first, second, third = endorse.call_times[:3]
    assert second - first >= 60 and third - second >= 60


async def test_a_token_for_another_sim_is_refused(signer: EndorseSigner) -> None:
    """The modem reports another SIM than the token names: refused, with the reason."""
    clock = VirtualClock(start=START)
    clock.attach()
    endorse = InProcessEndorse(signer, clock)
    moved = SettableModem(imsi="440109999999999")
    store = TokenStore(endorse, RefreshSettings(), clock, modem=moved, rng=random.Random(1))
    async with store:
        await clock.settle()
        snapshot = store.snapshot()
        assert store.current() is None
        assert snapshot.error_reason is StoreErrorReason.IDENTITY_MISMATCH
        assert snapshot.last_error is not None
        assert "...9999" in snapshot.last_error and "...6789" in snapshot.last_error
        assert "440109999999999" not in snapshot.last_error
