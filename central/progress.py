"""Progress for the slow steps (scan, connect, read, exchange), on stderr only.

A spinner with rich when stderr is a terminal; nothing at all otherwise, and nothing in
``credential-process`` mode (the AWS CLI reads our stdout and shows our stderr verbatim).
rich is imported only when a spinner is shown.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO


class Step:
    """A running step; :meth:`update` changes its text."""

    def __init__(self, status: Any = None) -> None:
        self._status = status

    def update(self, text: str) -> None:
        """Show ``text`` instead of the current step."""
        if self._status is not None:
            self._status.update(text)


class Progress:
    """Announces steps; quiet unless ``enabled`` and the stream is a TTY."""

    def __init__(self, enabled: bool = True, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self.enabled = enabled and self._stream.isatty()
        self._console: Any = None
        #: Seconds spent in each timed step ("scan", "connect", "read", "exchange").
        self.timings: dict[str, float] = {}

    def _get_console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self._stream, highlight=False)
        return self._console

    @contextmanager
    def step(self, text: str, timing: str | None = None) -> Iterator[Step]:
        """A context during which ``text`` shows with a spinner; timed as ``timing``."""
        started = time.perf_counter()
        try:
            if not self.enabled:
                yield Step()
                return
            with self._get_console().status(text) as status:
                yield Step(status)
        finally:
            if timing is not None:
                elapsed = time.perf_counter() - started
                self.timings[timing] = self.timings.get(timing, 0.0) + elapsed

    def timing_line(self) -> str:
        """``scan 0.21 s, connect 0.05 s, ...`` for the steps timed so far."""
        return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.timings.items())

    def done(self, text: str) -> None:
        """A line saying a step finished (only when enabled)."""
        if self.enabled:
            self._get_console().print(f"[green]✓[/green] {text}")
