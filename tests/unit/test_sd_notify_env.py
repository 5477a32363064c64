"""SdNotifier's environment parsing and the STATUS= sanitiser (no sockets involved)."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.peripheral.sd_notify import STATUS_MAX_CHARS, SdNotifier, sanitize_status

SOCKET = {"NOTIFY_SOCKET": "/run/systemd/notify"}


@pytest.mark.parametrize(
    ("env", "pid", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 42, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 42, 15.0),
        ({"WATCHDOG_USEC": "1"}, 42, 0.0000005),
        ({}, 42, None),
    ],
)
def test_watchdog_interval_is_half_the_timeout(
    env: dict[str, str], pid: int, expected: float | None
) -> None:
    """The ping period is half of WATCHDOG_USEC, in seconds."""
    notifier = SdNotifier.from_environment({**SOCKET, **env}, pid=pid)
    assert notifier.watchdog_interval() == expected


def test_watchdog_for_another_pid_is_ignored() -> None:
    """A WATCHDOG_PID naming another process (a parent's leftover) arms no watchdog."""
    notifier = SdNotifier.from_environment(
        {**SOCKET, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "41"}, pid=42
    )
    assert notifier.watchdog_interval() is None


@pytest.mark.parametrize(
    "env",
    [
        {"WATCHDOG_USEC": "thirty"},
        {"WATCHDOG_USEC": ""},
        {"WATCHDOG_USEC": "0"},
        {"WATCHDOG_USEC": "-5"},
        {"WATCHDOG_USEC": "1.5"},
        {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "self"},
    ],
)
def test_bad_watchdog_values_are_ignored_with_a_warning(
    env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Unparsable or non-positive watchdog settings disable the watchdog and log a warning."""
    with caplog.at_level(logging.WARNING, logger="endorse_ble.peripheral.sd_notify"):
        notifier = SdNotifier.from_environment({**SOCKET, **env}, pid=42)
    assert notifier.watchdog_interval() is None
    assert notifier.enabled
    assert any(
        r.levelno == logging.WARNING and "WATCHDOG" in r.getMessage() for r in caplog.records
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token ready", "token ready"),
        ("line one\nREADY=1", "line one READY=1"),
        ("  tabs\tand\r\n\x00nul  ", "tabs and nul"),
        ("\x1b[31mred\x1b[0m", "[31mred [0m"),
        ("", ""),
    ],
)
def test_sanitize_status_examples(text: str, expected: str) -> None:
    """Control characters become single spaces and the ends are trimmed."""
    assert sanitize_status(text) == expected


def test_sanitize_status_bounds_length() -> None:
    """An over-long text is cut to the limit and ends with an ellipsis."""
    line = sanitize_status("x" * 1000)
    assert len(line) == STATUS_MAX_CHARS
    assert line.endswith("…")
    assert sanitize_status("abcdef", limit=4) == "abc…"


@given(st.text(), st.integers(min_value=1, max_value=300))
def test_sanitize_status_always_one_bounded_printable_line(text: str, limit: int) -> None:
    """Whatever the input, the result is printable, has no newline and fits the limit."""
    line = sanitize_status(text, limit)
    assert len(line) <= limit
    assert line.isprintable()
    assert "\n" not in line
    line.encode("utf-8")  # no lone surrogates survive
