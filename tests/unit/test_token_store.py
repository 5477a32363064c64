"""The token store against an in-process Endorse and a settable modem, on virtual time."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from endorse_ble.peripheral.ports import Registration
from endorse_ble.peripheral.settings import RefreshSettings
from endorse_ble.peripheral.store_state import (
    ChallengeState,
    StoreError,
    StoreErrorReason,
    StoreSnapshot,
    StoreState,
)
from endorse_ble.peripheral.token_store import TokenStore
from endorse_ble.testbed.clock import VirtualClock
from endorse_ble.testbed.endorse_keys import EndorseSigner
from endorse_ble.testbed.inprocess_endorse import InProcessEndorse
from endorse_ble.testbed.settable_modem import SettableModem

START = 1000.0  # the virtual clock's monotonic start
NONCE = "n0nce-AAAAAAAAAAAAAAAAAAAA"


@pytest.fixture(scope="module")
def signer() -> EndorseSigner:
    # RSA key generation is the slow part; one key serves the whole module.
    key_holder = EndorseSigner()
    _ = key_holder.private_key
    return key_holder


@dataclass
class Rig:
    """A store with its outside world: the clock, Endorse and the modem."""

    clock: VirtualClock
    endorse: InProcessEndorse
    modem: SettableModem
    events: list[StoreSnapshot]
    make: Callable[..., TokenStore]


@pytest.fixture
async def rig(signer: EndorseSigner) -> AsyncIterator[Rig]:
    clock = VirtualClock(start=START)
    clock.attach()
    endorse = InProcessEndorse(signer, clock)
    modem = SettableModem()
    events: list[StoreSnapshot] = []
    stores: list[TokenStore] = []

    def make(mode: str = "prefetch", seed: int = 1, **kwargs: object) -> TokenStore:
        store = TokenStore(
            endorse,
            RefreshSettings(mode=mode),  # type: ignore[arg-type]
            clock,
            modem=modem,
            rng=random.Random(seed),
            **kwargs,  # type: ignore[arg-type]
        )
        store.subscribe(events.append)
        stores.append(store)
        return store

    yield Rig(clock, endorse, modem, events, make)
    for store in stores:
        await store.stop()


async def test_prefetch_fetches_at_start_and_renews_at_080_of_lifetime(rig: Rig) -> None:
    """A 600 s token is fetched at start and renewed every 480 s, never earlier."""
    async with rig.make() as store:
        await rig.clock.advance(479)
        assert rig.endorse.call_times == [START]
        assert store.snapshot().next_refresh_due == START + 480
        await rig.clock.advance(1)
        assert rig.endorse.call_times == [START, START + 480]
        await rig.clock.advance(480 * 3)
        assert rig.endorse.call_times == [START + 480 * n for n in range(5)]
        assert store.current() is not None


async def test_backoff_sequence_under_failures_and_reset_after_success(rig: Rig) -> None:
    """Failed fetches retry after uniform(0, min(300, 2*2**n)) with the seeded rng; a
    success resets the sequence."""
    rig.endorse.failing = True
    async with rig.make(seed=42):
        await rig.clock.advance(3600)
        times = rig.endorse.call_times
        reference = random.Random(42)
        expected = [START]
        while len(expected) < len(times):
            n = len(expected) - 1
            expected.append(expected[-1] + reference.uniform(0, min(300, 2 * 2**n)))
        assert times == pytest.approx(expected)
        assert len(times) >= 12  # the cap was reached and retries went on
        rig.endorse.failing = False
        await rig.clock.advance(300)
        succeeded_at = rig.endorse.call_times[-1]
        # The renewal after success fails once; the retry is back to the first step (<= 2 s).
        rig.endorse.fail_next = 1
        await rig.clock.run_until(succeeded_at + 480 + 2)
        # iat is whole seconds, so the renewal may come up to 1 s before receipt + 480 s.
        assert rig.endorse.call_times[-2] == pytest.approx(succeeded_at + 480, abs=1.0)
        assert rig.endorse.call_times[-1] - rig.endorse.call_times[-2] <= 2.0


async def test_never_serves_an_expired_token(rig: Rig) -> None:
    """When Endorse fails past exp, current() turns None at exp - leeway and says why."""
    async with rig.make() as store:
        await rig.clock.settle()
        token = store.current()
        assert token is not None
        rig.endorse.failing = True
        expiry_mono = START + (token.expires_at - rig.clock.wall()) - 5
        await rig.clock.run_until(expiry_mono - 0.5)
        assert store.current() is token
        await rig.clock.run_until(expiry_mono)
        assert store.current() is None
        snap = store.snapshot()
        assert (snap.state, snap.token) == (StoreState.FAILED, None)
        assert snap.error_reason is StoreErrorReason.FETCH_FAILED
        assert "endorse unreachable" in (snap.last_error or "")
        assert rig.events[-1].state is StoreState.FAILED  # published without being asked
        with pytest.raises(StoreError) as caught:
            await store.get()
        assert caught.value.reason in (StoreErrorReason.BACKING_OFF, StoreErrorReason.FETCH_FAILED)


async def test_no_fetch_while_unregistered_then_resumes(rig: Rig) -> None:
    """While the modem is searching nothing is fetched and the state says why; once
    registered, the next retry fetches."""
    rig.modem.registration = Registration.SEARCHING
    async with rig.make() as store:
        await rig.clock.advance(120)
        assert rig.endorse.calls == []
        assert rig.modem.health_calls > 1
        snap = store.snapshot()
        assert snap.state is StoreState.FAILED
        assert snap.error_reason is StoreErrorReason.NO_NETWORK
        assert snap.last_error == "waiting for network registration: searching"
        rig.modem.registration = Registration.ROAMING
        await rig.clock.advance(300)
        assert len(rig.endorse.calls) == 1
        assert store.snapshot().state is StoreState.READY


@pytest.mark.parametrize("broken", [False, True], ids=["unknown", "port-busy"])
async def test_unknown_registration_does_not_block(rig: Rig, broken: bool) -> None:
    """UNKNOWN registration, or a modem that cannot answer, still lets the fetch go ahead."""
    rig.modem.registration = Registration.UNKNOWN
    rig.modem.broken = broken
    async with rig.make() as store:
        await rig.clock.settle()
        assert store.current() is not None


async def test_two_concurrent_gets_cause_one_fetch(rig: Rig) -> None:
    """Two centrals asking at once share one fetch and get the same token."""
    async with rig.make("on-demand") as store:
        first, second = await asyncio.gather(store.get(), store.get())
        assert first is second
        assert len(rig.endorse.calls) == 1


async def test_two_concurrent_gets_share_the_error(rig: Rig) -> None:
    """When the shared fetch fails, both waiters get the typed error from one fetch."""
    rig.endorse.failing = True
    async with rig.make("on-demand") as store:
        results = await asyncio.gather(store.get(), store.get(), return_exceptions=True)
        assert [type(r) for r in results] == [StoreError, StoreError]
        assert all(r.reason is StoreErrorReason.FETCH_FAILED for r in results)  # type: ignore[union-attr]
        assert len(rig.endorse.calls) == 1


async def test_two_challenges_with_the_same_nonce_cause_one_fetch(rig: Rig) -> None:
    """Two identical challenges share one nonce-bound fetch."""
    async with rig.make("on-demand") as store:
        first, second = await asyncio.gather(
            store.request_challenge(NONCE), store.request_challenge(NONCE)
        )
        assert first is second
        assert first.nonce == NONCE
        assert rig.endorse.calls == [NONCE]


async def test_a_different_nonce_while_one_is_in_flight_is_refused(rig: Rig) -> None:
    """Only one challenge fetch runs at a time; another nonce meanwhile is CHALLENGE_BUSY."""
    async with rig.make("on-demand") as store:
        results = await asyncio.gather(
            store.request_challenge(NONCE),
            store.request_challenge("other-nonce-BBBB"),
            return_exceptions=True,
        )
        assert results[0].nonce == NONCE  # type: ignore[union-attr]
        assert isinstance(results[1], StoreError)
        assert results[1].reason is StoreErrorReason.CHALLENGE_BUSY


async def test_challenge_keeps_serving_the_ordinary_token(rig: Rig) -> None:
    """A challenge result is kept apart; the ordinary token and its generation stay."""
    async with rig.make() as store:
        await rig.clock.settle()
        ordinary = store.current()
        generation = store.snapshot().generation
        challenged = await store.request_challenge(NONCE)
        assert challenged.nonce == NONCE
        assert store.current() is ordinary
        assert store.challenge_token(NONCE) is challenged
        assert store.challenge_token("some-other-nonce") is None
        snap = store.snapshot()
        assert snap.generation == generation
        assert snap.challenge.state is ChallengeState.READY
        assert snap.challenge.nonce == NONCE
        assert snap.challenge.generation > generation
        states = [e.challenge.state for e in rig.events]
        assert ChallengeState.FETCHING in states


async def test_challenge_token_not_carrying_the_nonce_is_refused(rig: Rig) -> None:
    """A token signed for another nonce fails the challenge and leaves the ordinary token."""
    async with rig.make() as store:
        await rig.clock.settle()
        ordinary = store.current()
        rig.endorse.nonce_override = "someone-elses-nonce"
        with pytest.raises(StoreError) as caught:
            await store.request_challenge(NONCE)
        assert caught.value.reason is StoreErrorReason.NONCE_MISMATCH
        assert store.snapshot().challenge.state is ChallengeState.FAILED
        assert store.challenge_token(NONCE) is None
        assert store.current() is ordinary


@pytest.mark.parametrize("nonce", ["", "short", "x" * 65, "sp ace-nonce", "a.b.c.d.e.f"])
async def test_bad_nonce_is_refused_without_a_fetch(rig: Rig, nonce: str) -> None:
    """A nonce from the air outside the allowed shape is refused and nothing is fetched."""
    async with rig.make("on-demand") as store:
        with pytest.raises(StoreError) as caught:
            await store.request_challenge(nonce)
        assert caught.value.reason is StoreErrorReason.BAD_NONCE
        assert rig.endorse.calls == []
        assert store.snapshot().challenge.state is ChallengeState.IDLE


async def test_on_demand_fetches_only_when_asked_and_reuses(rig: Rig) -> None:
    """On-demand fetches nothing by itself, reuses a servable token, refetches once expired."""
    async with rig.make("on-demand") as store:
        await rig.clock.advance(3600)
        assert rig.endorse.calls == []
        assert store.snapshot().state is StoreState.EMPTY
        token = await store.get()
        await rig.clock.advance(590)
        assert await store.get() is token
        assert len(rig.endorse.calls) == 1
        await rig.clock.advance(10)  # now within the 5 s leeway of exp
        assert store.current() is None
        assert store.snapshot().last_error == f"token {token.fingerprint} expired"
        fresh = await store.get()
        assert fresh is not token
        assert len(rig.endorse.calls) == 2
        assert store.snapshot().next_refresh_due is None


async def test_on_demand_backs_off_after_a_failure(rig: Rig) -> None:
    """Right after a failed fetch, another get() is refused without spending data."""
    rig.endorse.fail_next = 1
    async with rig.make("on-demand") as store:
        with pytest.raises(StoreError):
            await store.get()
        with pytest.raises(StoreError) as caught:
            await store.get()
        assert caught.value.reason is StoreErrorReason.BACKING_OFF
        assert len(rig.endorse.calls) == 1
        await rig.clock.advance(2.0)  # the first backoff step is at most 2 s
        assert (await store.get()).expires_at > rig.clock.wall()


@pytest.mark.parametrize("jump", [-86_400.0, +60.0])
async def test_wall_clock_jump_does_not_move_the_schedule(rig: Rig, jump: float) -> None:
    """A wall-clock step does not move renewals, which run on the monotonic clock."""
    async with rig.make() as store:
        await rig.clock.advance(100)
        rig.clock.jump_wall(jump)
        assert store.current() is not None
        await rig.clock.advance(380 + 480)
        assert rig.endorse.call_times == [START, START + 480, START + 960]
        assert store.current() is not None


async def test_forward_wall_jump_past_exp_stops_serving_and_a_get_recovers(rig: Rig) -> None:
    """After the wall clock jumps past exp nothing stale is served; get() fetches anew."""
    async with rig.make() as store:
        await rig.clock.advance(100)
        rig.clock.jump_wall(3600)
        assert store.current() is None
        fresh = await store.get()
        assert fresh.expires_at - rig.clock.wall() > 500
        assert len(rig.endorse.calls) == 2


async def test_prefetch_notices_a_forward_wall_jump_and_refetches(rig: Rig) -> None:
    """In prefetch mode a token ended by a wall-clock step is replaced within a minute."""
    async with rig.make() as store:
        await rig.clock.advance(100)
        rig.clock.jump_wall(3600)
        await rig.clock.advance(60)
        assert len(rig.endorse.calls) == 2
        assert store.current() is not None
        assert rig.endorse.call_times[1] <= START + 160


async def test_expired_on_arrival_is_a_failure(rig: Rig) -> None:
    """A token already expired by the gateway's clock is not installed."""
    rig.endorse.issued_at_skew = -600
    async with rig.make("on-demand") as store:
        with pytest.raises(StoreError) as caught:
            await store.get()
        assert caught.value.reason is StoreErrorReason.EXPIRED_ON_ARRIVAL
        assert store.current() is None
        assert store.snapshot().state is StoreState.FAILED


async def test_events_arrive_in_order_with_increasing_generation(rig: Rig) -> None:
    """Subscribers see EMPTY, FETCHING, READY, then one new generation per renewal."""
    async with rig.make():
        await rig.clock.advance(480 * 3)
    states = [e.state for e in rig.events]
    assert states[:3] == [StoreState.EMPTY, StoreState.FETCHING, StoreState.READY]
    ready = [e for e in rig.events if e.state is StoreState.READY and e.token is not None]
    generations = [e.generation for e in ready]
    assert generations == sorted(generations)
    assert sorted(set(generations)) == [1, 2, 3, 4]
    by_generation = {e.generation: e.token for e in ready}
    assert len({t.raw for t in by_generation.values() if t is not None}) == 4
    assert [e.fetch_count for e in rig.events] == sorted(e.fetch_count for e in rig.events)


async def test_raising_subscriber_is_logged_and_harmless(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """A subscriber that raises is logged; the store and other subscribers carry on."""

    def broken(snapshot: StoreSnapshot) -> None:
        raise RuntimeError("listener bug")

    store = rig.make()
    store.subscribe(broken)
    with caplog.at_level(logging.ERROR, logger="endorse_ble.peripheral.token_store"):
        async with store:
            await rig.clock.advance(480)
    assert len(rig.endorse.calls) == 2
    assert rig.events[-1].generation == 2
    assert any("subscriber" in r.getMessage() for r in caplog.records)
    assert all(r.exc_info for r in caplog.records if "subscriber" in r.getMessage())


async def test_unsubscribe_stops_events(rig: Rig) -> None:
    """After unsubscribing, a callback receives nothing more."""
    store = rig.make("on-demand")
    seen: list[StoreSnapshot] = []
    unsubscribe = store.subscribe(seen.append)
    async with store:
        assert [e.state for e in seen] == [StoreState.EMPTY]
        unsubscribe()
        await store.get()
    assert len(seen) == 1
    assert rig.events  # the other subscriber still got them


async def test_tokens_never_appear_in_logs(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    """Logging at DEBUG through fetches, failures and a challenge never prints a token."""
    rig.endorse.fail_next = 2
    with caplog.at_level(logging.DEBUG):
        async with rig.make() as store:
            await rig.clock.advance(600)
            challenged = await store.request_challenge(NONCE)
    text = caplog.text
    assert text  # something was logged
    minted = [challenged.raw, *(e.token.raw for e in rig.events if e.token is not None)]
    for raw in minted:
        assert raw not in text
        assert raw.split(".")[2] not in text


async def test_get_before_start_is_not_running(rig: Rig) -> None:
    """A store that was never started refuses requests instead of fetching."""
    store = rig.make("on-demand")
    with pytest.raises(StoreError) as caught:
        await store.get()
    assert caught.value.reason is StoreErrorReason.NOT_RUNNING
    assert rig.endorse.calls == []


async def test_stop_during_a_fetch_is_clean(rig: Rig) -> None:
    """Stopping while a fetch blocks in its thread ends waiters with NOT_RUNNING, cleanly."""
    gate = threading.Event()
    rig.endorse.gate = gate
    store = rig.make("on-demand")
    await store.start()
    waiter = asyncio.create_task(store.get())
    assert await asyncio.to_thread(rig.endorse.entered.wait, 10)
    await store.stop()
    gate.set()
    with pytest.raises(StoreError) as caught:
        await waiter
    assert caught.value.reason is StoreErrorReason.NOT_RUNNING
    assert store.snapshot().state is not StoreState.READY


outage_script = st.lists(
    st.tuples(
        # how long this phase lasts (virtual seconds): the schedule's edges, or anything
        st.sampled_from([1.0, 30.0, 120.0, 479.0, 480.0, 481.0, 595.0]) | st.floats(1, 3600),
        st.booleans(),  # Endorse failing during it
        st.sampled_from(list(Registration)),  # what the modem reports
        # a wall-clock step at its start: none, NTP-sized, past exp, a day back, or anything
        st.sampled_from([0.0, 2.0, 600.0, 3600.0, -86_400.0]) | st.floats(-600, 600),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=25, deadline=None)
@given(script=outage_script, seed=st.integers(0, 2**16))
# A wall step past exp shortly before all is well again: recovery must not wait for renewal.
@example(
    script=[(100.0, False, Registration.HOME, 0.0), (1.0, False, Registration.HOME, 600.0)],
    seed=0,
)
def test_store_invariants_under_random_outages(
    signer: EndorseSigner, script: list[tuple[float, bool, Registration, float]], seed: int
) -> None:
    """Through any run of outages, registration changes and clock steps, every published
    token is servable, no sleep is negative, and the store recovers once all is well."""

    async def scenario() -> None:
        clock = VirtualClock()
        clock.attach()
        endorse = InProcessEndorse(signer, clock)
        modem = SettableModem()
        store = TokenStore(endorse, RefreshSettings(), clock, modem=modem, rng=random.Random(seed))
        served_badly: list[StoreSnapshot] = []

        def check(snapshot: StoreSnapshot) -> None:
            token = snapshot.token
            if token is not None and token.expires_at - clock.wall() <= 5:
                served_badly.append(snapshot)

        store.subscribe(check)
        async with store:
            for seconds, failing, registration, step in script:
                endorse.failing = failing
                modem.registration = registration
                clock.jump_wall(step)
                await clock.advance(seconds)
                current = store.current()
                assert current is None or current.expires_at - clock.wall() > 5
            endorse.failing = False
            modem.registration = Registration.HOME
            await clock.advance(300 + 1)  # the longest backoff step, then the fetch
            assert store.current() is not None
            assert store.snapshot().state is StoreState.READY
        assert served_badly == []
        assert all(s >= 0 for s in clock.sleeps)

    asyncio.run(scenario())


async def test_reconfigure_keeps_the_token_and_reschedules_with_the_new_source(
    rig: Rig, signer: EndorseSigner
) -> None:
    """A reload keeps serving the held token, renews on the new schedule, via the new source."""
    async with rig.make() as store:
        await rig.clock.settle()
        held = store.current()
        assert held is not None
        assert store.snapshot().next_refresh_due == START + 480
        replacement = InProcessEndorse(signer, rig.clock)
        store.reconfigure(replacement, RefreshSettings(renew_at_fraction=0.5), rig.modem)
        await rig.clock.settle()
        assert store.current() is held
        assert store.snapshot().next_refresh_due == START + 300
        await rig.clock.advance(300)
        assert rig.endorse.call_times == [START]
        assert replacement.call_times == [START + 300]
        assert store.current() is not held


async def test_answered_challenge_stays_served_while_the_next_is_fetched(rig: Rig) -> None:
    """A laptop about to read the token answering its nonce must not lose it because
    another central's challenge started: the answer is served until a newer token."""
    async with rig.make() as store:
        await rig.clock.settle()
        first = await rig.clock.drive(store.request_challenge("nonce-first-AAAA"))
        rig.endorse.gate = threading.Event()  # hold the next Endorse answer
        rig.endorse.entered.clear()
        second = asyncio.ensure_future(store.request_challenge("nonce-second-BBB"))
        assert await asyncio.to_thread(rig.endorse.entered.wait, 10)
        snap = store.snapshot()
        assert snap.challenge.state is ChallengeState.FETCHING
        assert snap.challenge.nonce == "nonce-second-BBB"
        assert store.challenge_in_flight() == "nonce-second-BBB"
        assert snap.answered is not None and snap.answered.token is first
        assert store.challenge_token("nonce-first-AAAA") is first
        with pytest.raises(StoreError) as busy:
            store.begin_challenge("nonce-third-CCCC")
        assert busy.value.reason is StoreErrorReason.CHALLENGE_BUSY
        rig.endorse.gate.set()
        answered = await second
        assert store.snapshot().answered is not None
        assert store.snapshot().answered.token is answered  # type: ignore[union-attr]
        assert store.challenge_in_flight() is None
