"""Progress shows on a terminal's stderr only."""

from __future__ import annotations

import io

from endorse_ble.central.progress import Progress


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


def test_timed_steps_accumulate_even_when_quiet() -> None:
    """Timed steps are measured whether or not anything is shown, and add up per name."""
    stream = io.StringIO()
    progress = Progress(enabled=False, stream=stream)
    with progress.step("one", timing="read"):
        pass
    first = progress.timings["read"]
    with progress.step("two", timing="read"), progress.step("three", timing="exchange"):
        pass
    assert progress.timings["read"] >= first >= 0
    assert list(progress.timings) == ["read", "exchange"]
    assert progress.timing_line().startswith("read ")
    assert stream.getvalue() == ""
