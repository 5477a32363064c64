"""Progress shows on a terminal's stderr only."""

from __future__ import annotations

import io

from central.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_quiet_when_not_a_terminal() -> None:
    """A pipe or file gets nothing, so scripts and the AWS CLI see no spinner."""
    stream = io.StringIO()
    progress = Progress(stream=stream)
    with progress.step("scanning...") as step:
        step.update("connecting...")
    progress.done("done")
    assert stream.getvalue() == ""


def test_disabled_on_a_terminal() -> None:
    """--quiet (enabled=False) silences even a terminal."""
    stream = Terminal()
    progress = Progress(enabled=False, stream=stream)
    progress.done("done")
    assert stream.getvalue() == ""


def test_terminal_gets_the_steps() -> None:
    """On a terminal the finished step is printed."""
    stream = Terminal()
    progress = Progress(stream=stream)
    with progress.step("scanning...") as step:
        step.update("connecting...")
    progress.done("read 600 bytes")
    assert "read 600 bytes" in stream.getvalue()
