"""Checks of the machine a configuration is meant for: the modem port, the cellular
interface, the Bluetooth adapter on BlueZ, the Endorse host's name.

``check-config`` prints each finding as one line and fails; ``run`` logs them at start and
carries on (the daemon waits for a link to come up and recovers by itself). Each check
answers ``None`` when fine, or a :class:`Finding` saying what is wrong and what to do.
Every blocking step has a deadline: a resolver or D-Bus call that overruns is abandoned.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from endorse_ble.peripheral.settings import GatewayConfig

T = TypeVar("T")

#: How long a name lookup or a BlueZ query may take before the check gives up on it.
PROBE_DEADLINE_SECONDS = 5.0

SYS_NET = Path("/sys/class/net")
#: ARPHRD_PPP (include/uapi/linux/if_arp.h): pppd's ppp0.
_ARPHRD_PPP = 512
_IFF_UP = 0x1
#: Kernel drivers of cellular network interfaces: QMI/MBIM/NCM modems and the
#: Ethernet-over-USB ones ("HiLink" sticks). An interface on anything else (e1000e, r8169,
#: brcmfmac...) is a wired or Wi-Fi link, over which Endorse refuses to answer.
CELLULAR_DRIVERS = frozenset(
    {
        "qmi_wwan", "cdc_mbim", "cdc_ncm", "huawei_cdc_ncm", "cdc_ether", "rndis_host",
        "ipheth", "sierra_net", "option", "mhi_net", "mhi_wwan_mbim", "ipa", "rmnet",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the environment: the setting it concerns and what to do."""

    key: str
    problem: str
    remedy: str

    def __str__(self) -> str:
        return f"{self.key}: {self.problem}; {self.remedy}"


# -- the modem port ---------------------------------------------------------------------------


def check_port(port: str, lock_dir: Path = Path("/var/lock")) -> Finding | None:
    """The AT port exists, is a tty, and no other program holds it."""
    key = "modem.port"
    if "://" in port:
        return None  # a pyserial URL (socket://, rfc2217://): nothing local to look at
    if not port.startswith("/"):
        return Finding(
            key, f"{port!r} is not a path", f"write the device path, e.g. /dev/{Path(port).name}"
        )
    try:
        info = os.stat(port)
    except FileNotFoundError:
        return Finding(
            key,
            f"{port} does not exist",
            "check the modem is plugged in and its driver loaded (ls /dev/serial/by-id/)",
        )
    except OSError as exc:
        return Finding(key, f"cannot look at {port}: {exc.strerror}", "check the path")
    if not stat.S_ISCHR(info.st_mode):
        return Finding(key, f"{port} is not a serial device", "name the modem's AT tty")
    holder = uucp_lock_holder(port, lock_dir)
    if holder is not None:
        return Finding(
            key,
            f"{port} is locked by pid {holder} (pppd's data port?)",
            "use an AT port that pppd does not own (guide: 'Which tty is which')",
        )
    return _probe_open(port)


def _probe_open(port: str) -> Finding | None:
    key = "modem.port"
    try:
        fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            return Finding(
                key,
                f"{port} is held exclusively by another program (TIOCEXCL), usually ModemManager",
                'set [modem] backend = "modemmanager" to read the modem through it, or tag '
                "the port ID_MM_PORT_IGNORE (/etc/udev/rules.d/78-endorse-ble-mm.rules)",
            )
        if exc.errno in (errno.EACCES, errno.EPERM):
            return Finding(
                key,
                f"{port}: permission denied",
                "the endorse-ble user must be in the port's group (dialout): id endorse-ble",
            )
        return Finding(key, f"cannot open {port}: {exc.strerror}", "check the device")
    try:
        if not os.isatty(fd):
            return Finding(key, f"{port} is not a tty", "name the modem's AT tty")
        return _probe_flock(fd, port)
    finally:
        os.close(fd)


def _probe_flock(fd: int, port: str) -> Finding | None:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return Finding(
                "modem.port",
                f"{port} is locked (flock) by another program",
                "stop it (fuser -v shows the holder; another endorse-peripheral?)",
            )
        raise
    fcntl.flock(fd, fcntl.LOCK_UN)
    return None


def uucp_lock_holder(port: str, lock_dir: Path) -> int | None:
    """The live pid in ``port``'s UUCP lock file (pppd's, FHS 5.9), if any; a stale one
    (its process gone) does not count."""
    lock = lock_dir / f"LCK..{Path(os.path.realpath(port)).name}"
    try:
        pid = int(lock.read_text(encoding="ascii", errors="replace").split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # a stale lock: pppd died without removing it
    except PermissionError:
        pass
    return pid


# -- the cellular interface -------------------------------------------------------------------


def check_interface(name: str, sys_net: Path = SYS_NET) -> Finding | None:
    """The interface exists, is up, and is a cellular link."""
    key = "cellular.interface"
    here = sys_net / name
    if not here.exists():
        return Finding(
            key,
            f"{name} does not exist",
            "bring the cellular link up (ifup soracom, nmcli connection up soracom); "
            "ip link lists the interfaces",
        )
    try:
        flags = int(_read(here / "flags"), 16)
        kind = int(_read(here / "type"))
    except (OSError, ValueError):
        return None  # not a Linux sysfs we understand: let the daemon find out
    if not flags & _IFF_UP:
        return Finding(key, f"{name} is down", f"bring it up (ip link set {name} up, ifup ...)")
    driver = _driver(here)
    if kind == _ARPHRD_PPP or driver in CELLULAR_DRIVERS or _devtype(here) == "wwan":
        return None
    return Finding(
        key,
        f"{name} is not a cellular link (driver {driver or 'none'})",
        "Endorse answers only over the SIM's own link: name ppp0 or wwan0",
    )


def _read(path: Path) -> str:
    return path.read_text(encoding="ascii").strip()


def _driver(iface: Path) -> str | None:
    try:
        return os.path.basename(os.readlink(iface / "device" / "driver"))
    except OSError:
        return None


def _devtype(iface: Path) -> str | None:
    try:
        lines = _read(iface / "uevent").splitlines()
    except OSError:
        return None
    return next((line[8:] for line in lines if line.startswith("DEVTYPE=")), None)


# -- the Endorse host -------------------------------------------------------------------------


def check_endorse_host(url: str) -> Finding | None:
    """The Endorse URL's host name resolves (through the system resolver)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        within_deadline(lambda: socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM))
    except TimeoutError:
        return Finding(
            "endorse.url",
            f"resolving {host} took over {PROBE_DEADLINE_SECONDS:g} s",
            "check the resolver (/etc/resolv.conf, resolvectl status)",
        )
    except (OSError, UnicodeError) as exc:
        return Finding(
            "endorse.url",
            f"{host} does not resolve ({exc})",
            "check the resolver and the name in endorse.url",
        )
    return None


def within_deadline(call: Callable[[], T], seconds: float = PROBE_DEADLINE_SECONDS) -> T:
    """``call()``'s result, or TimeoutError after ``seconds``; an overrunning call is
    abandoned on a daemon thread (getaddrinfo cannot be cancelled)."""
    done = threading.Event()
    outcome: list[T] = []
    failure: list[BaseException] = []

    def worker() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=worker, name="environment-probe", daemon=True).start()
    if not done.wait(seconds):
        raise TimeoutError(f"no answer within {seconds:g} s")
    if failure:
        raise failure[0]
    return outcome[0]


# -- the Bluetooth adapter --------------------------------------------------------------------

AdapterProbe = Callable[[str, float], str | None]


def check_adapter(adapter: str, probe: AdapterProbe | None = None) -> Finding | None:
    """BlueZ runs and has the adapter. ``probe(adapter, deadline)`` answers None when the
    adapter is there, else the problem; by default BlueZ is asked over D-Bus."""
    if probe is None:
        from endorse_ble.peripheral.gatt_server import bluez_adapter_problem

        probe = bluez_adapter_problem
    problem = probe(adapter, PROBE_DEADLINE_SECONDS)
    if problem is None:
        return None
    return Finding(
        "ble.adapter",
        problem,
        "systemctl status bluetooth; bluetoothctl list names the adapters (rfkill unblock "
        "bluetooth if blocked)",
    )


# -- all of them ------------------------------------------------------------------------------


def environment_findings(config: GatewayConfig) -> list[Finding]:
    """Every finding for ``config`` on this machine, in the order of the config file."""
    checks: list[Callable[[], Finding | None]] = [lambda: check_endorse_host(config.endorse.url)]
    if config.cellular.interface is not None:
        interface = config.cellular.interface
        checks.append(lambda: check_interface(interface))
    if config.modem.backend == "at":  # through ModemManager there is no port of ours
        checks.append(lambda: check_port(config.modem.port))
    checks.append(lambda: check_adapter(config.ble.adapter))
    return [finding for check in checks if (finding := check()) is not None]
