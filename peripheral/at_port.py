"""The modem's AT port: the only gateway module that imports pyserial.

Every call here is bounded (field-facts.md, "pyserial"): a write waits at most until its
deadline for the port to take the bytes (``write_timeout``; pyserial's ``write()`` blocks
forever without one), nothing ever calls ``flush()`` (an untimed ``tcdrain``), and closing
discards unsent output first, so ``close()`` does not wait for a modem that stopped reading
to drain it. ``termios.error``, which a hung-up tty raises and which is not an OSError, is
turned into a :class:`ModemError` like every other port failure.
"""

from __future__ import annotations

import errno
import logging
import select
import termios
import time
from pathlib import Path
from typing import Any

import serial

from endorse_ble.peripheral.environment import uucp_lock_holder
from endorse_ble.peripheral.modem_errors import ModemError, ModemErrorReason
from endorse_ble.peripheral.settings import ModemSettings

logger = logging.getLogger(__name__)

#: Everything a port operation can raise for a port that went wrong.
PORT_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, termios.error)

#: What a ``port_locked`` error says, whoever holds the port.
MODEMMANAGER_HINT = (
    "ModemManager opens modem ports exclusively (TIOCEXCL): either set "
    '[modem] backend = "modemmanager" to read the modem through it, or tag this port '
    "ID_MM_PORT_IGNORE with a udev rule so ModemManager leaves it alone"
)


def open_port(settings: ModemSettings, lock_dir: Path) -> Any:
    """Open the AT port; raises :class:`ModemError` (PORT_UNAVAILABLE or PORT_LOCKED)."""
    url = settings.port
    _check_uucp_lock(url, lock_dir)
    try:
        return serial.serial_for_url(
            url,
            baudrate=settings.baudrate,
            timeout=settings.command_timeout_seconds,
            write_timeout=settings.command_timeout_seconds,
            # flock(LOCK_EX): a second AtModem would garble answers.
            exclusive=True,
        )
    except (serial.SerialException, OSError, termios.error, ValueError) as exc:
        raise _open_error(url, exc) from exc


def _open_error(url: str, exc: BaseException) -> ModemError:
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code == errno.EBUSY or "resource busy" in text.lower():
        # TIOCEXCL (tty_ioctl(4)): ModemManager's way of holding a port.
        return ModemError(
            ModemErrorReason.PORT_LOCKED, f"{url} is held exclusively (EBUSY). {MODEMMANAGER_HINT}"
        )
    # pyserial has no typed error for a failed flock; its message says "lock".
    if "lock" in text.lower():
        return ModemError(
            ModemErrorReason.PORT_LOCKED, f"{url} is locked by another process: {text}"
        )
    return ModemError(ModemErrorReason.PORT_UNAVAILABLE, f"cannot open {url}: {text}")


def _check_uucp_lock(url: str, lock_dir: Path) -> None:
    """Refuse a device that pppd has locked (FHS 5.9: /var/lock/LCK..<device>)."""
    if "://" in url:
        return
    pid = uucp_lock_holder(url, lock_dir)
    if pid is not None:
        raise ModemError(ModemErrorReason.PORT_LOCKED, f"{url} is locked by pid {pid}")


def write_line(port: Any, data: bytes, deadline: float) -> None:
    """Write ``data`` by ``deadline`` (monotonic) or raise ModemError(STUCK).

    A port whose output buffer stays full is not written to at all: pyserial would spin on
    EAGAIN until its write timeout. Other port failures raise the port's own exception.
    """
    remaining = deadline - time.monotonic()
    fd = _fileno(port)
    if fd is not None and remaining > 0:
        _, writable, _ = select.select([], [fd], [], remaining)
        if not writable:
            remaining = 0
    if remaining <= 0:
        raise _stuck(data)
    port.write_timeout = remaining
    try:
        port.write(data)
    except serial.SerialTimeoutException as exc:
        raise _stuck(data) from exc


def _fileno(port: Any) -> int | None:
    """The port's descriptor; None for URL ports without one (loop://, rfc2217://)."""
    try:
        fd = port.fileno()
    except (AttributeError, OSError, ValueError, serial.SerialException):
        return None  # io.UnsupportedOperation is both an OSError and a ValueError
    return fd if isinstance(fd, int) else None


def _stuck(data: bytes) -> ModemError:
    command = data.decode("ascii", "replace").strip()
    return ModemError(ModemErrorReason.STUCK, f"the modem stopped reading commands ({command})")


def read_some(port: Any, timeout: float, most: int) -> bytes:
    """Wait up to ``timeout`` for a byte, then take what else is there (up to ``most``)."""
    port.timeout = timeout  # a blocking read until data or the deadline: no busy loop
    data: bytes = port.read(1)
    if data:
        data += port.read(min(port.in_waiting, most))
    return data


def take_waiting(port: Any, most: int) -> bytes:
    """The bytes already received (at most ``most``), without waiting."""
    waiting = min(port.in_waiting, most)
    return port.read(waiting) if waiting else b""


def discard_input(port: Any) -> None:
    port.reset_input_buffer()


def close_port(port: Any, name: str) -> None:
    """Close without waiting: unsent output is discarded first (no tcdrain on close)."""
    try:
        port.reset_output_buffer()
    except (serial.SerialException, OSError, termios.error, AttributeError) as exc:
        logger.debug("discarding output of %s: %s", name, exc)
    try:
        port.close()
    except PORT_ERRORS as exc:
        logger.debug("closing %s: %s", name, exc)
