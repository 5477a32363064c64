"""Bounded steps, stuck-step detection and the per-kind log limit."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from endorse_ble.peripheral.log_limit import RateLimitedLog
from endorse_ble.peripheral.step_watch import DaemonThreadExecutor, Progress, StepOverrun, bounded


class Ticks:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_step_past_its_deadline_is_stuck_until_it_ends() -> None:
    """A step is stuck only once its deadline has passed, and no longer once it ended."""
    ticks = Ticks()
    progress = Progress(ticks)
    handle = progress.begin("modem poll", 10)
    ticks.now += 9
    assert progress.stuck() == []
    ticks.now += 2
    (stuck,) = progress.stuck()
    assert stuck.step == "modem poll" and stuck.overdue_seconds == pytest.approx(1)
    assert "modem poll stuck" in stuck.describe()
    progress.end(handle)
    assert progress.stuck() == []


def test_a_loop_that_misses_its_beat_is_stuck() -> None:
    """A loop that promised to beat again within 30 s and did not is reported."""
    ticks = Ticks()
    progress = Progress(ticks)
    progress.beat("modem watch", 30)
    ticks.now += 31
    assert [s.step for s in progress.stuck()] == ["modem watch loop"]
    progress.beat("modem watch", 30)
    assert progress.stuck() == []


async def test_an_overrun_is_abandoned_and_stays_stuck_until_its_thread_returns() -> None:
    """The caller gets StepOverrun at the deadline; the thread is counted until it ends."""
    asyncio.get_running_loop().set_default_executor(DaemonThreadExecutor())
    release = threading.Event()
    progress = Progress()
    with pytest.raises(StepOverrun):
        await bounded(lambda: release.wait(10), seconds=0.05, step="fetch", progress=progress)
    assert [s.step for s in progress.stuck()] == ["fetch"]
    release.set()
    assert await bounded(lambda: 7, seconds=5, step="quick", progress=progress) == 7
    for _ in range(200):  # the released thread ends promptly
        if not progress.stuck():
            break
        await asyncio.sleep(0.01)
    assert progress.stuck() == []


async def test_errors_of_a_step_reach_the_caller() -> None:
    def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await bounded(fail, seconds=5, step="x")


def test_rate_limited_log_counts_what_it_held_back(caplog: pytest.LogCaptureFixture) -> None:
    """One line per kind per interval; the next says how many were held back."""
    ticks = Ticks()
    limited = RateLimitedLog(logging.getLogger("test.limit"), 60, ticks)
    with caplog.at_level(logging.INFO, "test.limit"):
        for _ in range(1000):
            limited.log(logging.INFO, "bad-write", "refused %d bytes", 5)
        limited.log(logging.INFO, "other", "another kind")
        ticks.now += 61
        limited.log(logging.INFO, "bad-write", "refused %d bytes", 5)
    assert [r.getMessage() for r in caplog.records] == [
        "refused 5 bytes",
        "another kind",
        "refused 5 bytes (999 more like this in the last 61 s)",
    ]
