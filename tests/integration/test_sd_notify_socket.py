"""SdNotifier against a real AF_UNIX datagram socket, as systemd listens on one."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from endorse_ble.peripheral.sd_notify import SdNotifier


@pytest.fixture(params=["path", "abstract"])
def listener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket and the NOTIFY_SOCKET value that names it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.settimeout(5)
    if request.param == "path":
        value = str(tmp_path / "notify")
        sock.bind(value)
    else:
        name = f"endorse-ble-test-{os.getpid()}-{time.monotonic_ns()}"
        sock.bind(b"\0" + name.encode())
        value = "@" + name
    yield sock, value
    sock.close()


def _notifier(value: str, **extra: str) -> SdNotifier:
    return SdNotifier.from_environment({"NOTIFY_SOCKET": value, **extra})


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda n: n.ready(), b"READY=1"),
        (lambda n: n.ready("serving"), b"READY=1\nSTATUS=serving"),
        (lambda n: n.stopping(), b"STOPPING=1"),
        (lambda n: n.watchdog(), b"WATCHDOG=1"),
        (lambda n: n.status("token ready\nREADY=1"), b"STATUS=token ready READY=1"),
        (lambda n: n.send(STATUS="x", ERRNO="5"), b"STATUS=x\nERRNO=5"),
        (lambda n: n.status("gateway \u00e9t\u00e9"), b"STATUS=gateway \xc3\xa9t\xc3\xa9"),
    ],
)
def test_sends_exact_datagram(
    listener: tuple[socket.socket, str], call: Callable[[SdNotifier], bool], expected: bytes
) -> None:
    """Each notification arrives as exactly the expected bytes, one datagram per call."""
    sock, value = listener
    notifier = _notifier(value)
    try:
        assert call(notifier) is True
        assert sock.recv(4096) == expected
    finally:
        notifier.close()


def test_reloading_carries_monotonic_usec(listener: tuple[socket.socket, str]) -> None:
    """RELOADING=1 comes with MONOTONIC_USEC taken from CLOCK_MONOTONIC at send time."""
    sock, value = listener
    notifier = _notifier(value)
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.close()
    first, second = sock.recv(4096).split(b"\n")
    assert first == b"RELOADING=1"
    key, _, usec = second.partition(b"=")
    assert key == b"MONOTONIC_USEC"
    assert before <= int(usec) <= after


def test_one_socket_for_many_sends(listener: tuple[socket.socket, str]) -> None:
    """Consecutive sends reuse one client socket and arrive in order."""
    sock, value = listener
    notifier = _notifier(value)
    for n in range(3):
        assert notifier.status(f"step {n}")
    notifier.close()
    assert [sock.recv(4096) for _ in range(3)] == [
        b"STATUS=step 0",
        b"STATUS=step 1",
        b"STATUS=step 2",
    ]


def test_no_socket_is_a_no_op(caplog: pytest.LogCaptureFixture) -> None:
    """Without NOTIFY_SOCKET every call returns False, opens nothing and logs nothing."""
    notifier = SdNotifier.from_environment({})
    with caplog.at_level(logging.DEBUG, logger="endorse_ble.peripheral.sd_notify"):
        assert not notifier.enabled
        assert notifier.ready() is False
        assert notifier.status("x") is False
        assert notifier.reloading() is False
        assert notifier.watchdog() is False
        assert notifier.stopping() is False
        assert notifier.watchdog_interval() is None
    assert caplog.records == []


@pytest.mark.parametrize("value", ["relative/path", "@", "vsock:2:1234"])
def test_unusable_socket_value_disables(value: str, caplog: pytest.LogCaptureFixture) -> None:
    """A NOTIFY_SOCKET that is neither an absolute path nor an @name gives a no-op notifier."""
    with caplog.at_level(logging.WARNING, logger="endorse_ble.peripheral.sd_notify"):
        notifier = _notifier(value)
    assert not notifier.enabled
    assert notifier.ready() is False
    assert "NOTIFY_SOCKET" in caplog.text


def test_send_failure_logs_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With nobody listening, sends return False and one warning is logged per failure streak."""
    path = tmp_path / "notify"
    notifier = _notifier(str(path))
    with caplog.at_level(logging.WARNING, logger="endorse_ble.peripheral.sd_notify"):
        assert notifier.ready() is False
        assert notifier.watchdog() is False
        assert notifier.status("still failing") is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    # The listener appears (systemd came back): sending works and says so once.
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.settimeout(5)
    sock.bind(str(path))
    try:
        with caplog.at_level(logging.INFO, logger="endorse_ble.peripheral.sd_notify"):
            assert notifier.watchdog() is True
        assert sock.recv(4096) == b"WATCHDOG=1"
        assert "works again" in caplog.text
    finally:
        notifier.close()
        sock.close()


def test_full_receiver_does_not_block(tmp_path: Path) -> None:
    """When the receiver's queue is full, a send fails at once instead of blocking the loop."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    sock.bind(str(path))
    notifier = _notifier(str(path))
    try:
        results = [notifier.status("x" * 150) for _ in range(2000)]
    finally:
        notifier.close()
        sock.close()
    assert results[0] is True
    assert False in results


def test_send_rejects_bad_fields() -> None:
    """Malformed keys and multi-line values are programming errors, refused before sending."""
    notifier = SdNotifier.from_environment({})
    for bad in ({"ready": "1"}, {"READY": "1\nSTOPPING=1"}, {"STATUS": "a\0b"}, {}):
        with pytest.raises(ValueError):
            notifier.send(**bad)
