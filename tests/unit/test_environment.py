"""check-config's environment checks against real devices, ptys, sysfs and the resolver."""

from __future__ import annotations

import fcntl
import os
import termios
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from endorse_ble.peripheral.environment import (
    Finding,
    check_adapter,
    check_endorse_host,
    check_interface,
    check_port,
    within_deadline,
)


@pytest.fixture
def pty_slave() -> Iterator[tuple[str, int]]:
    """A pseudo-terminal standing in for the modem's AT port: (path, an open slave fd)."""
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave), slave
    finally:
        os.close(slave)
        os.close(master)


def test_a_free_tty_passes(pty_slave: tuple[str, int]) -> None:
    assert check_port(pty_slave[0]) is None


@pytest.mark.parametrize(
    ("port", "words"),
    [
        ("/dev/ttyUSB9", "/dev/ttyUSB9 does not exist"),
        ("ttyUSB2", "e.g. /dev/ttyUSB2"),
        ("/dev/null", "/dev/null is not a tty"),
    ],
)
def test_a_port_that_cannot_work_is_one_finding(port: str, words: str) -> None:
    finding = check_port(port)
    assert finding is not None
    assert finding.key == "modem.port"
    assert words in str(finding)
    assert "\n" not in str(finding)


def test_a_regular_file_is_not_a_serial_device(tmp_path: Path) -> None:
    path = tmp_path / "ttyUSB2"
    path.write_text("")
    assert "is not a serial device" in str(check_port(str(path)))


def test_a_port_held_with_tiocexcl_names_modemmanager(pty_slave: tuple[str, int]) -> None:
    """ModemManager's TIOCEXCL: a second open() gets EBUSY (root is exempt, so the check
    runs as nobody)."""
    path, slave = pty_slave
    fcntl.ioctl(slave, termios.TIOCEXCL)
    if os.geteuid() == 0:
        os.chown(path, 65534, -1)
    answer = _as_nobody(lambda: str(check_port(path)))
    assert "held exclusively by another program (TIOCEXCL), usually ModemManager" in answer
    assert "ID_MM_PORT_IGNORE" in answer


def _as_nobody(call: Callable[[], str]) -> str:
    """``call()`` in a forked child that dropped root (if it had it), its answer back."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            os.write(write_end, call().encode())
        except BaseException:
            code = 1
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as answer:
        text = answer.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return text


def test_a_port_flocked_by_another_program(pty_slave: tuple[str, int]) -> None:
    path, _ = pty_slave
    holder = os.open(path, os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        assert "is locked (flock) by another program" in str(check_port(path))
    finally:
        os.close(holder)
    assert check_port(path) is None


def test_a_port_pppd_locked(pty_slave: tuple[str, int], tmp_path: Path) -> None:
    path, _ = pty_slave
    (tmp_path / f"LCK..{Path(path).name}").write_text(f"{os.getpid():>10}\n")
    assert f"locked by pid {os.getpid()}" in str(check_port(path, lock_dir=tmp_path))
    (tmp_path / f"LCK..{Path(path).name}").write_text("4194304\n")  # beyond pid_max: stale
    assert check_port(path, lock_dir=tmp_path) is None


def test_a_missing_interface() -> None:
    finding = check_interface("ppp7")
    assert finding is not None
    assert str(finding).startswith("cellular.interface: ppp7 does not exist; bring")


def test_loopback_is_not_a_cellular_link() -> None:
    """A wired, Wi-Fi or loopback interface is refused by Endorse: named as such."""
    assert "lo is not a cellular link (driver none)" in str(check_interface("lo"))


def _sysfs(tmp_path: Path, name: str, flags: int, kind: int, driver: str | None) -> Path:
    iface = tmp_path / name
    iface.mkdir(parents=True)
    (iface / "flags").write_text(f"{flags:#x}\n")
    (iface / "type").write_text(f"{kind}\n")
    (iface / "uevent").write_text(f"INTERFACE={name}\n")
    if driver:
        (tmp_path / "drivers" / driver).mkdir(parents=True)
        (iface / "device").mkdir()
        (iface / "device" / "driver").symlink_to(tmp_path / "drivers" / driver)
    return tmp_path


@pytest.mark.parametrize(
    ("name", "flags", "kind", "driver", "expected"),
    [
        ("ppp0", 0x1091, 512, None, None),  # pppd: ARPHRD_PPP, up
        ("wwan0", 0x1003, 65534, "qmi_wwan", None),  # QMI raw-ip
        ("ppp0", 0x1090, 512, None, "ppp0 is down"),
        ("eth0", 0x1003, 1, "e1000e", "eth0 is not a cellular link (driver e1000e)"),
    ],
)
def test_interface_kinds(
    tmp_path: Path, name: str, flags: int, kind: int, driver: str | None, expected: str | None
) -> None:
    """sysfs as the kernel lays it out: flags (hex), type (ARPHRD_*), device/driver link."""
    sys_net = _sysfs(tmp_path, name, flags, kind, driver)
    finding = check_interface(name, sys_net)
    assert (finding and finding.problem) == expected


def test_endorse_host_resolves_or_is_named() -> None:
    assert check_endorse_host("http://127.0.0.1:8080/") is None
    assert check_endorse_host("http://localhost/") is None
    finding = check_endorse_host("https://no-such-host.invalid/")
    assert finding is not None
    assert "no-such-host.invalid does not resolve" in str(finding)


def test_a_call_past_its_deadline_is_abandoned() -> None:
    import threading

    release = threading.Event()
    with pytest.raises(TimeoutError):
        within_deadline(lambda: release.wait(30), seconds=0.05)
    release.set()
    assert within_deadline(lambda: 7, seconds=5) == 7


def test_adapter_finding_carries_the_probe_answer() -> None:
    assert check_adapter("hci0", lambda name, deadline: None) is None
    finding = check_adapter("hci7", lambda name, deadline: f"BlueZ has no adapter {name}")
    assert isinstance(finding, Finding)
    assert str(finding).startswith("ble.adapter: BlueZ has no adapter hci7; ")
