"""The virtual clock parks sleepers, wakes them in order and runs long schedules fast."""

from __future__ import annotations

import asyncio
import time

import pytest

from endorse_ble.testbed.clock import VirtualClock, VirtualClockError


@pytest.fixture
async def clock() -> VirtualClock:
    virtual = VirtualClock(epoch=1_800_000_000.0, start=50.0)
    virtual.attach()
    return virtual


async def test_sleepers_wake_in_deadline_order_at_their_deadlines(clock: VirtualClock) -> None:
    """Three sleepers wake in deadline order, each seeing its own deadline as the time."""
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("c", 30), ("a", 10), ("b", 20))]
    await clock.advance(25)
    assert woke == [("a", 60.0), ("b", 70.0)]
    assert clock.monotonic() == 75.0
    await clock.run_until(80.0)
    assert woke[-1] == ("c", 80.0)
    await asyncio.gather(*tasks)


async def test_wall_follows_monotonic_and_jumps_on_its_own(clock: VirtualClock) -> None:
    """Wall time advances with virtual time, and jump_wall moves only the wall clock."""
    assert clock.wall() == 1_800_000_000.0
    await clock.advance(100)
    assert clock.wall() == 1_800_000_100.0
    clock.jump_wall(-3600)
    assert clock.monotonic() == 150.0
    assert clock.wall() == 1_799_996_500.0


@pytest.mark.parametrize("seconds", [-1.0, float("nan")])
async def test_negative_or_nan_sleep_is_an_error(clock: VirtualClock, seconds: float) -> None:
    """A negative or NaN sleep is a bug in the caller, so the test clock refuses it."""
    with pytest.raises(VirtualClockError):
        await clock.sleep(seconds)


async def test_cancelled_sleeper_does_not_hold_time(clock: VirtualClock) -> None:
    """A cancelled sleep is forgotten: it is not counted and does not block advancing."""
    task = asyncio.create_task(clock.sleep(10))
    await clock.settle()
    assert clock.pending_sleepers == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert clock.pending_sleepers == 0
    assert clock.next_deadline is None


async def test_worker_thread_finishes_before_time_moves(clock: VirtualClock) -> None:
    """A to_thread call made after waking completes before the next sleeper is woken."""
    seen: list[float] = []

    def slow_blocking_call() -> float:
        time.sleep(0.01)  # real time: the clock must wait for the thread, not race it
        return clock.monotonic()

    async def ticker() -> None:
        for _ in range(3):
            await clock.sleep(60)
            seen.append(await asyncio.to_thread(slow_blocking_call))

    task = asyncio.create_task(ticker())
    await clock.advance(180)
    assert seen == [110.0, 170.0, 230.0]
    await task


async def test_drive_runs_a_day_of_ticks_fast(clock: VirtualClock) -> None:
    """drive() jumps between deadlines: 1440 one-minute ticks take well under a second."""

    async def ticks() -> int:
        count = 0
        while clock.monotonic() < 50.0 + 86_400:
            await clock.sleep(60)
            count += 1
        return count

    started = time.perf_counter()
    assert await clock.drive(ticks()) == 1440
    assert time.perf_counter() - started < 1.0


async def test_drive_reports_a_deadlock(clock: VirtualClock) -> None:
    """An awaitable that waits on something no sleeper will ever set is reported."""
    never = asyncio.Event()
    with pytest.raises(VirtualClockError, match="nothing to wake"):
        await clock.drive(never.wait())


async def test_run_until_refuses_the_past(clock: VirtualClock) -> None:
    """Virtual time never goes backwards."""
    with pytest.raises(VirtualClockError):
        await clock.run_until(0.0)
