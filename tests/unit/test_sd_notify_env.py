"""SdNotifier's environment parsing and the STATUS= sanitiser (no sockets involved)."""

from __future__ import annotations

import logging

import pytest

from endorse_ble.peripheral.sd_notify import SdNotifier

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
