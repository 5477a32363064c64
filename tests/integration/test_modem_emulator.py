"""The modem emulator itself, spoken to with raw bytes on its pseudo-terminal."""

from __future__ import annotations

import os
import select
import time
from collections.abc import Iterator

import pytest

from endorse_ble.testbed.modem.emulator import PPP_FRAME, ModemEmulator, ModemFault


@pytest.fixture
def tty(modem_emulator: ModemEmulator) -> Iterator[int]:
    """A raw file descriptor on the emulator's device path."""
    fd = os.open(modem_emulator.device_path, os.O_RDWR | os.O_NOCTTY)
    yield fd
    os.close(fd)


def read_until(fd: int, end: bytes, timeout: float = 2.0) -> bytes:
    """Read from ``fd`` until ``end`` has arrived or ``timeout`` passes."""
    data = b""
    deadline = time.monotonic() + timeout
    while end not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            break
        data += os.read(fd, 4096)
    return data


def test_verbose_answer_with_echo(modem_emulator: ModemEmulator, tty: int) -> None:
    """With echo on, the command comes back, then <CR><LF>-framed lines (V.250 5.7.1)."""
    os.write(tty, b"AT+CSQ\r")
    assert read_until(tty, b"OK\r\n") == b"AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    assert modem_emulator.commands == ["AT+CSQ"]


def test_echo_off_and_registration_modes(modem_emulator: ModemEmulator, tty: int) -> None:
    """ATE0 stops the echo; AT+CREG=2 adds the location fields to the read answer."""
    os.write(tty, b"ATE0\r")
    assert read_until(tty, b"OK\r\n").endswith(b"\r\nOK\r\n")
    os.write(tty, b"AT+CREG=2\r")
    assert read_until(tty, b"OK\r\n") == b"\r\nOK\r\n"
    os.write(tty, b"AT+CREG?\r")
    assert read_until(tty, b"OK\r\n") == b'\r\n+CREG: 2,1,"1A2B","01C3D4E5",2\r\n\r\nOK\r\n'
    os.write(tty, b"AT+FOO\r")
    assert read_until(tty, b"ERROR\r\n") == b"\r\nERROR\r\n"
    assert modem_emulator.wait_for_commands(4, timeout=1)


def test_ppp_busy_answers_frames(modem_emulator: ModemEmulator, tty: int) -> None:
    """In PPP_BUSY mode an AT command gets HDLC frames back, not a result code."""
    modem_emulator.set_fault(ModemFault.PPP_BUSY)
    os.write(tty, b"AT\r")
    assert PPP_FRAME in read_until(tty, PPP_FRAME)


def test_device_path_is_a_stable_symlink(modem_emulator: ModemEmulator) -> None:
    """The path is a symlink to a pty; unplug removes it, replug points it at a new pty."""
    path = modem_emulator.device_path
    assert os.path.islink(path) and os.readlink(path).startswith("/dev/pts/")
    modem_emulator.set_fault(ModemFault.UNPLUG)
    assert not os.path.lexists(path)
    modem_emulator.set_fault(ModemFault.REPLUG)
    assert modem_emulator.device_path == path
    assert os.path.exists(os.readlink(path))
    assert modem_emulator.fault is ModemFault.NONE


def test_urcs_arrive_unprompted() -> None:
    """With urc_interval set, URCs arrive while no command is pending."""
    with ModemEmulator(urc_interval=0.01, seed=5) as emulator:
        fd = os.open(emulator.device_path, os.O_RDWR | os.O_NOCTTY)
        try:
            assert emulator.wait_for_urcs(3)
            data = read_until(fd, b"\r\n", timeout=1)
        finally:
            os.close(fd)
    assert data.startswith(b"\r\n")
    assert emulator.commands_received == 0
