"""Blocking steps with deadlines, and what the service watchdog is told about them.

Every blocking call the daemon makes (an Endorse fetch, a modem poll, closing a port) runs
as a *step*: in a worker thread, awaited at most until its deadline, then abandoned (never
awaited further). :class:`Progress` remembers each step until its thread really returns,
so a thread still running past its deadline is *stuck*: the daemon then stops sending
WATCHDOG=1 (systemd restarts it) and STATUS names the step.

Worker threads come from :class:`DaemonThreadExecutor`, installed as the event loop's
default executor: its threads are daemon threads that nothing joins, so neither the end of
``asyncio.run`` nor interpreter exit waits for a call stuck in the kernel or in DNS.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


class StepOverrun(TimeoutError):
    """A step did not finish within its deadline; its thread was abandoned."""

    def __init__(self, step: str, seconds: float) -> None:
        self.step = step
        self.seconds = seconds
        super().__init__(f"{step} did not finish within {seconds:g} s")


@dataclass(frozen=True)
class StuckStep:
    """A step whose thread is still running past its deadline."""

    step: str
    overdue_seconds: float

    def describe(self) -> str:
        return f"{self.step} stuck ({self.overdue_seconds:.0f} s past its deadline)"


class Progress:
    """Steps in flight with their deadlines, and loops' heartbeats (thread-safe)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._steps: dict[int, tuple[str, float]] = {}
        self._beats: dict[str, tuple[float, float]] = {}

    def begin(self, step: str, seconds: float) -> int:
        """Note a step starting now that must end within ``seconds``; returns its handle."""
        handle = next(self._ids)
        with self._lock:
            self._steps[handle] = (step, self._monotonic() + seconds)
        return handle

    def end(self, handle: int) -> None:
        with self._lock:
            self._steps.pop(handle, None)

    def beat(self, loop: str, within_seconds: float) -> None:
        """``loop`` made progress now and promises to again within ``within_seconds``."""
        with self._lock:
            self._beats[loop] = (self._monotonic(), within_seconds)

    def forget(self, loop: str) -> None:
        with self._lock:
            self._beats.pop(loop, None)

    def stuck(self) -> list[StuckStep]:
        """Steps past their deadline and loops past their promised beat, worst first."""
        now = self._monotonic()
        with self._lock:
            late = [StuckStep(step, now - due) for step, due in self._steps.values() if now > due]
            late += [
                StuckStep(f"{loop} loop", now - (last + within))
                for loop, (last, within) in self._beats.items()
                if now > last + within
            ]
        return sorted(late, key=lambda s: -s.overdue_seconds)


async def bounded(
    call: Callable[[], T], *, seconds: float, step: str, progress: Progress | None = None
) -> T:
    """Run ``call`` in a worker thread; its result, or :class:`StepOverrun` at the deadline.

    On overrun the thread is abandoned: it keeps running until ``call`` returns, and
    ``progress`` keeps counting it as stuck until then.
    """
    handle = progress.begin(step, seconds) if progress is not None else None

    def run() -> T:
        try:
            return call()
        finally:
            if progress is not None and handle is not None:
                progress.end(handle)

    future = asyncio.get_running_loop().run_in_executor(None, run)
    future.add_done_callback(_consume)
    try:
        if math.isinf(seconds):
            return await future
        return await asyncio.wait_for(asyncio.shield(future), seconds)
    except TimeoutError:
        raise StepOverrun(step, seconds) from None


def _consume(future: asyncio.Future[Any]) -> None:
    # An abandoned step's exception has no one left to read it.
    if not future.cancelled():
        future.exception()


class DaemonThreadExecutor(ThreadPoolExecutor):
    """An executor whose every job runs in a new daemon thread that nothing ever joins.

    A ThreadPoolExecutor only because asyncio accepts nothing else as the default
    executor; none of the pool's machinery (its queue, its joined workers) is used.
    """

    def __init__(self, name: str = "step") -> None:
        super().__init__(max_workers=1, thread_name_prefix=name)
        self._name = name
        self._ids = itertools.count(1)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # handed to whoever awaits the future
                future.set_exception(exc)
            else:
                future.set_result(result)

        name = f"{self._name}-{next(self._ids)}"
        threading.Thread(target=run, name=name, daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Join nothing: a thread stuck in the kernel must not hold up the exit."""
