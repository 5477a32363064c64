"""AtModem against the modem emulator on a real pseudo-terminal (and pyserial loop://)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import serial

from endorse_ble.peripheral.at_modem import AtModem
from endorse_ble.peripheral.modem_errors import ModemError, ModemErrorReason
from endorse_ble.peripheral.ports import Registration
from endorse_ble.peripheral.settings import ModemSettings
from endorse_ble.testbed.modem.emulator import ModemEmulator, ModemFault

TIMEOUT = 0.3


def at_modem(port: str, **kwargs: Any) -> AtModem:
    """An AtModem with a short command timeout, as every test here uses."""
    return AtModem(ModemSettings(port=port, command_timeout_seconds=TIMEOUT), **kwargs)


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., ModemEmulator]]:
    """A factory of started emulators with custom settings, all stopped after the test."""
    with ExitStack() as stack:

        def make(**kwargs: Any) -> ModemEmulator:
            return stack.enter_context(ModemEmulator(seed=7, **kwargs))

        yield make


@pytest.fixture
def modem(modem_emulator: ModemEmulator) -> Iterator[AtModem]:
    """An AtModem on the default emulator, closed after."""
    with at_modem(modem_emulator.device_path) as m:
        yield m


def test_identity(modem_emulator: ModemEmulator, modem: AtModem) -> None:
    """IMEI, IMSI and ICCID are read, and echo was turned off first."""
    identity = modem.identity()
    assert (identity.imei, identity.imsi, identity.iccid) == (
        "356938035643809",
        "440103123456789",
        "8981100000123456789",
    )
    assert modem_emulator.commands[0] == "ATE0"
    assert modem_emulator.echo is False


def test_health_home(modem: AtModem) -> None:
    """A registered modem reports home, its signal in dBm and its operator."""
    health = modem.health()
    assert (health.registration, health.signal_dbm, health.operator, health.detail) == (
        Registration.HOME,
        -73,
        "SORACOM",
        "",
    )


@pytest.mark.parametrize(
    ("stat", "registration", "operator"),
    [
        (1, Registration.HOME, "SORACOM"),
        (5, Registration.ROAMING, "SORACOM"),
        (2, Registration.SEARCHING, None),
        (3, Registration.DENIED, None),
        (0, Registration.NOT_REGISTERED, None),
    ],
)
def test_registration_states(
    make_emulator: Callable[..., ModemEmulator],
    stat: int,
    registration: Registration,
    operator: str | None,
) -> None:
    """Each +CREG <stat> the modem reports reaches ModemHealth."""
    emulator = make_emulator(registration=stat)
    with at_modem(emulator.device_path) as modem:
        health = modem.health()
    assert (health.registration, health.operator) == (registration, operator)


@pytest.mark.parametrize(("rssi", "dbm"), [(0, -113), (1, -111), (31, -51), (99, None)])
def test_signal_in_dbm(
    make_emulator: Callable[..., ModemEmulator], rssi: int, dbm: int | None
) -> None:
    """+CSQ rssi becomes dBm per 27.007 8.5; 99 is unknown."""
    emulator = make_emulator(signal_rssi=rssi)
    with at_modem(emulator.device_path) as modem:
        assert modem.health().signal_dbm == dbm


def test_echo_on_is_tolerated(modem_emulator: ModemEmulator, modem: AtModem) -> None:
    """With echo turned back on, the echoed command line is not taken for the answer."""
    assert modem.command("ATE1").ok
    assert modem_emulator.echo is True
    response = modem.command("AT+CSQ")
    assert response.lines == ("+CSQ: 20,99",)
    assert modem.health().registration is Registration.HOME


def test_echo_off_from_the_start(make_emulator: Callable[..., ModemEmulator]) -> None:
    """A modem that starts with echo off answers the same."""
    emulator = make_emulator(echo=False)
    with at_modem(emulator.device_path) as modem:
        assert modem.identity().imei == "356938035643809"
        assert modem.health().signal_dbm == -73


def test_urcs_interleaved_are_set_aside(make_emulator: Callable[..., ModemEmulator]) -> None:
    """URCs at random moments, also inside answers, never change the answers."""
    emulator = make_emulator(urc_interval=0.005, registration=5)
    with at_modem(emulator.device_path) as modem:
        for _ in range(10):
            # Let URCs pile up between commands too, not only inside answers.
            assert emulator.wait_for_urcs(emulator.urcs_sent + 2)
            assert modem.identity().iccid == "8981100000123456789"
            health = modem.health()
            assert (health.registration, health.signal_dbm) == (Registration.ROAMING, -73)
        urcs = modem.recent_urcs()
    assert len(urcs) >= 10
    assert all(urc.startswith(("RING", "+CREG: 2", "^RSSI:", "+CMTI:", "^BOOT:")) for urc in urcs)


def test_3g_modem_refusing_cereg(make_emulator: Callable[..., ModemEmulator]) -> None:
    """A 3G-only modem that answers ERROR to AT+CEREG? is still healthy."""
    emulator = make_emulator(supports_cereg=False)
    with at_modem(emulator.device_path) as modem:
        health = modem.health()
    assert (health.registration, health.detail) == (Registration.HOME, "")
    assert "AT+CEREG?" in emulator.commands


def test_iccid_variant_found_and_remembered(make_emulator: Callable[..., ModemEmulator]) -> None:
    """A Huawei-style modem answering only AT^ICCID? is found, then asked directly on
    the next open (the identity is read at each open, and only then)."""
    emulator = make_emulator(iccid_commands=("AT^ICCID?",))
    with at_modem(emulator.device_path) as modem:
        assert modem.identity().iccid == "8981100000123456789"
        before = emulator.commands_received
        assert modem.identity().iccid == "8981100000123456789"
        assert emulator.commands_received == before  # answered from the open's reading
        modem.close()
        assert modem.identity().iccid == "8981100000123456789"
    assert emulator.commands[-4:] == ["ATE0", "AT+CGSN", "AT+CIMI", "AT^ICCID?"]
    assert emulator.commands_received - before == 4
    assert {"AT+CCID", "AT+ICCID"} <= set(emulator.commands)


def test_fault_error(modem_emulator: ModemEmulator, modem: AtModem) -> None:
    """ERROR to everything: no health, the refusals named, the session (and the identity
    read when it was opened) kept."""
    modem_emulator.set_fault(ModemFault.ERROR)
    health = modem.health()
    assert (health.registration, health.signal_dbm, health.operator) == (
        Registration.UNKNOWN,
        None,
        None,
    )
    assert "AT+CREG? -> ERROR" in health.detail
    assert modem.identity().imei == "356938035643809"
    assert modem.is_open


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (ModemFault.SILENCE, ModemErrorReason.TIMEOUT),
        (ModemFault.GARBAGE, ModemErrorReason.GARBAGE),
        (ModemFault.PPP_BUSY, ModemErrorReason.PPP_BUSY),
    ],
)
def test_session_faults_report_unknown_then_recover(
    modem_emulator: ModemEmulator,
    modem: AtModem,
    fault: ModemFault,
    reason: ModemErrorReason,
) -> None:
    """Silence, garbage and PPP frames give UNKNOWN with a reason within the timeout."""
    assert modem.health().registration is Registration.HOME
    modem_emulator.set_fault(fault)
    started = time.monotonic()
    health = modem.health()
    elapsed = time.monotonic() - started
    assert health.registration is Registration.UNKNOWN
    assert reason.value in health.detail
    assert modem.last_error is not None and modem.last_error.reason is reason
    assert elapsed < TIMEOUT + 0.4
    assert modem.identity().imsi is None
    modem_emulator.set_fault(ModemFault.NONE)
    assert modem.health().registration is Registration.HOME
    assert modem.last_error is None


def test_unplug_then_replug_recovers(modem_emulator: ModemEmulator, modem: AtModem) -> None:
    """An unplugged modem is UNKNOWN; after replug the same AtModem finds it again."""
    assert modem.health().registration is Registration.HOME
    modem_emulator.set_fault(ModemFault.UNPLUG)
    assert not os.path.exists(modem_emulator.device_path)
    health = modem.health()
    assert health.registration is Registration.UNKNOWN
    assert modem.last_error is not None
    assert modem.last_error.reason in {
        ModemErrorReason.PORT_LOST,
        ModemErrorReason.PORT_UNAVAILABLE,
    }
    again = modem.health()
    assert again.registration is Registration.UNKNOWN
    assert modem.last_error.reason is ModemErrorReason.PORT_UNAVAILABLE
    modem_emulator.set_fault(ModemFault.REPLUG)
    assert modem.health().registration is Registration.HOME
    assert modem.identity().imei == "356938035643809"


def test_fault_no_registration(modem_emulator: ModemEmulator, modem: AtModem) -> None:
    """A modem that lost the network reports not registered or searching, no operator."""
    modem_emulator.set_fault(ModemFault.NO_REGISTRATION)
    health = modem.health()
    assert health.registration in {Registration.NOT_REGISTERED, Registration.SEARCHING}
    assert health.operator is None


def test_fault_weak_signal(modem_emulator: ModemEmulator, modem: AtModem) -> None:
    """A weak or unknown signal reads as -109 dBm or None while still registered."""
    modem_emulator.set_fault(ModemFault.WEAK_SIGNAL)
    health = modem.health()
    assert health.signal_dbm in {-109, None}
    assert health.registration is Registration.HOME


def test_uucp_lock_by_live_process(modem_emulator: ModemEmulator, tmp_path: Path) -> None:
    """A device locked by pppd (LCK..<tty> naming a live pid) is not opened at all."""
    tty = os.path.basename(os.path.realpath(modem_emulator.device_path))
    (tmp_path / f"LCK..{tty}").write_text(f"{os.getpid():>10}\n")
    modem = at_modem(modem_emulator.device_path, lock_dir=tmp_path)
    health = modem.health()
    assert health.registration is Registration.UNKNOWN
    assert modem.last_error is not None
    assert modem.last_error.reason is ModemErrorReason.PORT_LOCKED
    assert modem_emulator.commands_received == 0


def test_stale_uucp_lock_is_ignored(modem_emulator: ModemEmulator, tmp_path: Path) -> None:
    """A lock file left by a dead process does not keep the modem away."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    tty = os.path.basename(os.path.realpath(modem_emulator.device_path))
    (tmp_path / f"LCK..{tty}").write_text(dead.stdout)
    with at_modem(modem_emulator.device_path, lock_dir=tmp_path) as modem:
        assert modem.health().registration is Registration.HOME


def test_port_held_by_another_process(modem_emulator: ModemEmulator) -> None:
    """A port another holder has flock()ed is reported locked, not fought over."""
    fd = os.open(modem_emulator.device_path, os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        modem = at_modem(modem_emulator.device_path)
        assert modem.health().registration is Registration.UNKNOWN
        assert modem.last_error is not None
        assert modem.last_error.reason is ModemErrorReason.PORT_LOCKED
    finally:
        os.close(fd)


def test_missing_port() -> None:
    """A device that does not exist is UNKNOWN with port_unavailable, not an exception."""
    modem = at_modem("/nonexistent/ttyUSB2")
    health = modem.health()
    assert health.registration is Registration.UNKNOWN
    assert "port_unavailable" in health.detail
    assert modem.identity().imei is None


def test_loop_url_echo_without_answer_times_out() -> None:
    """Over loop:// the command comes back as echo only: a timeout, within the budget."""
    modem = at_modem("loop://")
    started = time.monotonic()
    assert modem.health().registration is Registration.UNKNOWN
    assert time.monotonic() - started < TIMEOUT + 0.4
    assert modem.last_error is not None
    assert modem.last_error.reason is ModemErrorReason.TIMEOUT


@pytest.mark.parametrize(
    ("flood", "reason"),
    [
        (b"+CSQ: 1,1\r\n", ModemErrorReason.OVERSIZED),
        (b"x" * 600, ModemErrorReason.OVERSIZED),
        (b"\xff\xfe\x80\r\n", ModemErrorReason.GARBAGE),
    ],
)
def test_hostile_flood_is_cut_short(flood: bytes, reason: ModemErrorReason) -> None:
    """A device answering an endless stream is cut off by the size bounds, not the timeout."""
    master, slave = os.openpty()
    stop = threading.Event()

    def hostile() -> None:
        os.read(master, 100)  # the first command (ATE0)
        while not stop.is_set():
            try:
                os.write(master, flood)
            except OSError:
                return

    thread = threading.Thread(target=hostile, daemon=True)
    thread.start()
    modem = AtModem(ModemSettings(port=os.ttyname(slave), command_timeout_seconds=5.0))
    try:
        started = time.monotonic()
        assert modem.health().registration is Registration.UNKNOWN
        assert time.monotonic() - started < 2.0
        assert modem.last_error is not None
        assert modem.last_error.reason is reason
    finally:
        stop.set()
        modem.close()
        os.close(slave)
        thread.join(timeout=5)
        os.close(master)


def test_cli_prints_port_and_serves(tmp_path: Path) -> None:
    """`endorse-testbed modem` prints MODEM_PORT and READY, serves AT, stops on SIGTERM."""
    argv = [sys.executable, "-m", "endorse_ble.testbed", "modem", "--imei", "490154203237518",
            "--registration", "5", "--seed", "3"]  # fmt: skip
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            port_line = proc.stdout.readline().strip()
            assert port_line.startswith("MODEM_PORT=")
            assert proc.stdout.readline().strip() == "READY"
            with at_modem(port_line.split("=", 1)[1]) as modem:
                assert modem.identity().imei == "490154203237518"
                assert modem.health().registration is Registration.ROAMING
        finally:
            proc.terminate()
            assert proc.wait(timeout=10) == 0


@pytest.mark.parametrize("line", ["AT\rAT+CFUN=0", "AT+CSQ\n", "AT+COPS=\u00e9"])
def test_command_refuses_more_than_one_line(line: str) -> None:
    """A command with CR/LF or non-ASCII is refused before anything reaches the modem."""
    modem = at_modem("loop://")
    with pytest.raises(ValueError, match="single printable ASCII"):
        modem.command(line)
    assert not modem.is_open


def test_modem_that_stops_reading_is_stuck_then_reopened(
    modem_emulator: ModemEmulator, modem: AtModem
) -> None:
    """A modem that stops reading its port: health ends within the command timeout with
    ``stuck`` (no write blocks for ever), and once it reads again the port is reopened."""
    assert modem.health().registration is Registration.HOME
    modem_emulator.set_fault(ModemFault.STOP_READING)
    started = time.monotonic()
    health = modem.health()
    assert time.monotonic() - started < 2 * TIMEOUT
    assert (health.registration, health.fault) == (Registration.UNKNOWN, "stuck")
    assert "stopped reading" in health.detail
    assert not modem.is_open
    started = time.monotonic()
    modem.close()
    assert time.monotonic() - started < TIMEOUT
    modem_emulator.set_fault(ModemFault.NONE)
    assert modem.health().registration is Registration.HOME
    assert modem.identity().imei == "356938035643809"


def test_call_waiting_on_a_stuck_call_gives_up(modem_emulator: ModemEmulator) -> None:
    """A call that finds the port held by a stuck one fails within the command timeout."""
    modem = at_modem(modem_emulator.device_path)
    release = threading.Event()
    holder = threading.Thread(target=lambda: modem._lock.acquire() and release.wait(5))
    holder.start()
    try:
        started = time.monotonic()
        health = modem.health()
        assert time.monotonic() - started < 2 * TIMEOUT
        assert health.fault == "stuck"
        assert "still stuck" in health.detail
    finally:
        release.set()
        holder.join()
        modem._lock.release()
        modem.close()


def test_close_leaves_the_port_to_a_call_stuck_on_it(modem_emulator: ModemEmulator) -> None:
    """close() during a call stuck on the port returns within the command timeout without
    closing the port under the call (whose reads would then hit descriptor numbers
    reused by other files); the call closes the port as it leaves."""
    modem = at_modem(modem_emulator.device_path)
    modem.open()
    fd = modem._port.fileno()
    device = os.readlink(f"/proc/self/fd/{fd}")
    modem_emulator.set_fault(ModemFault.SILENCE)
    seen = modem_emulator.commands_received
    outcome: list[BaseException] = []

    def stuck_call() -> None:
        try:
            modem.command("AT+CSQ", timeout=60.0)
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    caller = threading.Thread(target=stuck_call)
    caller.start()
    try:
        assert modem_emulator.wait_for_commands(seen + 1)
        started = time.monotonic()
        modem.close()
        assert time.monotonic() - started < 30.0  # well before the call's own deadline
        assert os.readlink(f"/proc/self/fd/{fd}") == device  # still the call's port
    finally:
        modem_emulator.set_fault(ModemFault.UNPLUG)  # the stuck read ends at once
        caller.join(timeout=30)
    assert not caller.is_alive()
    assert [type(exc) for exc in outcome] == [ModemError]
    assert not modem.is_open
    assert not os.path.exists(f"/proc/self/fd/{fd}") or os.readlink(f"/proc/self/fd/{fd}") != device


class HungUpTty:
    """What pyserial hands back for a tty whose modem hung up: termios calls fail with
    termios.error (not an OSError), as tcflush/tcdrain do on a hung-up tty."""

    timeout = 0.0
    write_timeout = 0.0

    @property
    def in_waiting(self) -> int:
        raise termios.error(5, "Input/output error")

    def fileno(self) -> int:
        raise OSError(9, "no descriptor")

    def reset_output_buffer(self) -> None:
        raise termios.error(5, "Input/output error")

    def close(self) -> None:
        pass


def test_termios_error_on_a_hung_up_tty_is_port_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """termios.error from a hung-up tty is a lost port, reported and retried, never raised."""
    monkeypatch.setattr(serial, "serial_for_url", lambda *args, **kwargs: HungUpTty())
    modem = at_modem("/dev/ttyHUNGUP")
    health = modem.health()
    assert (health.registration, health.fault) == (Registration.UNKNOWN, "port_lost")
    assert not modem.is_open
    modem.close()
