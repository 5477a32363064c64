"""A virtual clock for tests and benchmarks: hours of schedule run in milliseconds.

:class:`VirtualClock` implements ``endorse_ble.peripheral.ports.Clock``. ``sleep()`` parks
the caller until the test advances virtual time (``advance``, ``run_until``) or an
auto-advance driver (``drive``) jumps to the next sleeper's deadline whenever the program
is idle. The wall clock is ``epoch`` plus elapsed monotonic time plus an offset that
``jump_wall`` changes on its own, to simulate NTP steps and skewed clocks.

"Idle" means no callback is ready on the event loop and no job runs in the loop's default
executor (``asyncio.to_thread``): :meth:`VirtualClock.attach` installs a counting executor
for that, so a token fetch in a worker thread finishes before time moves on. This keeps
runs deterministic.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# A program that never goes idle (a task spinning on sleep(0)) is a bug; stop it loudly.
_MAX_SETTLE_ROUNDS = 100_000
# How long to let a worker thread run before looking again (real seconds).
_THREAD_POLL_SECONDS = 0.0002


class VirtualClockError(RuntimeError):
    """The virtual clock was misused or the program under test never went idle."""


class _CountingExecutor(ThreadPoolExecutor):
    """A thread pool that knows how many of its jobs the loop has not yet seen finish."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(max_workers=4, thread_name_prefix="virtual-clock-worker")
        self._loop = loop
        self._lock = threading.Lock()
        self._busy = 0

    @property
    def busy(self) -> int:
        with self._lock:
            return self._busy

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future = super().submit(fn, *args, **kwargs)
        with self._lock:
            self._busy += 1
        # run_in_executor chains its asyncio future right after submit() returns; adding our
        # callback later (from the loop) puts it after that chain, so by the time the count
        # drops, the result is already queued on the loop.
        self._loop.call_soon(future.add_done_callback, self._finished)
        return future

    def _finished(self, _future: Future[Any]) -> None:
        with self._lock:
            self._busy -= 1


class VirtualClock:
    """Virtual monotonic and wall time; see the module docstring."""

    def __init__(self, *, epoch: float = 1_800_000_000.0, start: float = 1000.0) -> None:
        self._start = start
        self._now = start
        self._epoch = epoch
        self._wall_offset = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._executor: _CountingExecutor | None = None
        #: Every duration passed to sleep(), in call order (tests check them).
        self.sleeps: list[float] = []

    # -- the Clock protocol ------------------------------------------------------------

    def monotonic(self) -> float:
        """Virtual seconds; only moves when the clock is advanced."""
        return self._now

    def wall(self) -> float:
        """Virtual Unix time: epoch + elapsed virtual time + any wall jumps."""
        return self._epoch + (self._now - self._start) + self._wall_offset

    async def sleep(self, seconds: float) -> None:
        """Park until virtual time reaches now + ``seconds`` (0: just yield)."""
        if math.isnan(seconds) or seconds < 0:
            raise VirtualClockError(f"sleep({seconds!r}): negative or NaN")
        self.sleeps.append(seconds)
        if seconds == 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), future))
        await future

    # -- driving time ------------------------------------------------------------------

    def attach(self) -> None:
        """Count worker-thread jobs on the running loop (call once, inside the loop)."""
        loop = asyncio.get_running_loop()
        if self._executor is None:
            self._executor = _CountingExecutor(loop)
            loop.set_default_executor(self._executor)

    def jump_wall(self, seconds: float) -> None:
        """Step the wall clock by ``seconds`` (either way) without moving monotonic time."""
        self._wall_offset += seconds

    @property
    def pending_sleepers(self) -> int:
        """How many callers are parked in sleep()."""
        self._drop_abandoned()
        return len(self._sleepers)

    @property
    def next_deadline(self) -> float | None:
        """The monotonic time the earliest sleeper wakes at, if any."""
        self._drop_abandoned()
        return self._sleepers[0][0] if self._sleepers else None

    async def settle(self) -> None:
        """Return once the loop is idle: nothing ready to run, no worker-thread job."""
        loop = asyncio.get_running_loop()
        for _ in range(_MAX_SETTLE_ROUNDS):
            await asyncio.sleep(0)
            if self._executor is not None and self._executor.busy:
                await asyncio.sleep(_THREAD_POLL_SECONDS)
                continue
            # CPython's loop keeps runnable callbacks in _ready; with our own wake-up being
            # the one that just ran, an empty queue means every other task is parked.
            ready = getattr(loop, "_ready", None)
            if ready is None or not ready:
                return
        raise VirtualClockError("the event loop never went idle")

    async def advance(self, seconds: float) -> None:
        """Move virtual time forward by ``seconds``, waking sleepers in deadline order."""
        if math.isnan(seconds) or seconds < 0:
            raise VirtualClockError(f"advance({seconds!r}): negative or NaN")
        await self.run_until(self._now + seconds)

    async def run_until(self, target: float) -> None:
        """Move virtual time to ``target`` (monotonic), letting each woken sleeper run."""
        if target < self._now:
            raise VirtualClockError(f"run_until({target}) is in the past (now {self._now})")
        await self.settle()
        while True:
            deadline = self.next_deadline
            if deadline is None or deadline > target:
                break
            self._wake_next()
            await self.settle()
        self._now = target

    async def drive(self, awaitable: Awaitable[T], *, limit: float = 86_400.0 * 7) -> T:
        """Await ``awaitable``, jumping to the next sleeper's deadline whenever idle.

        Raises :class:`VirtualClockError` if it is still pending with nobody asleep (a
        deadlock) or after ``limit`` virtual seconds.
        """
        task = asyncio.ensure_future(awaitable)
        give_up = self._now + limit
        try:
            while True:
                await self.settle()
                if task.done():
                    return task.result()
                deadline = self.next_deadline
                if deadline is None or deadline > give_up:
                    raise VirtualClockError("awaitable still pending and nothing to wake")
                self._wake_next()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def _wake_next(self) -> None:
        deadline, _, future = heapq.heappop(self._sleepers)
        self._now = max(self._now, deadline)
        future.set_result(None)

    def _drop_abandoned(self) -> None:
        # A cancelled sleep leaves its future behind; it must not hold time back.
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
