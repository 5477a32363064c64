"""The modem over AT commands: the only gateway module that imports pyserial.

:class:`AtModem` implements the :class:`~endorse_ble.peripheral.ports.Modem` seam. It is
blocking (the daemon calls it from a worker thread) and never raises to its caller: a port that is
missing, locked by pppd, gone mid-session, silent, speaking PPP or spewing garbage turns
into ``Registration.UNKNOWN`` with a ``detail`` saying why, and the next call tries again
(reopening the port, so a modem that re-enumerates after a reset comes back by itself).
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import serial

from endorse_ble.peripheral.at_framing import (
    MAX_RESPONSE_BYTES,
    AtResponse,
    LineKind,
    LineSplitter,
    ResponseReader,
    classify,
    looks_like_ppp,
)
from endorse_ble.peripheral.at_parser import (
    ICCID_COMMANDS,
    best_registration,
    parse_cops,
    parse_csq,
    parse_iccid,
    parse_imei,
    parse_imsi,
    parse_registration,
)
from endorse_ble.peripheral.modem_errors import AtParseError, ModemError, ModemErrorReason
from endorse_ble.peripheral.ports import ModemHealth, ModemIdentity, Registration
from endorse_ble.peripheral.settings import ModemSettings

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: URCs kept for logging and inspection (oldest dropped first).
URC_HISTORY = 64
_READ_CHUNK = 256

_REGISTRATION_COMMANDS = (
    ("AT+CREG?", "+CREG:"),
    ("AT+CGREG?", "+CGREG:"),
    ("AT+CEREG?", "+CEREG:"),
)


class AtModem:
    """A modem's AT port reached through any pyserial URL (a device path, ``loop://``...).

    Args:
        settings: the port, its baud rate and the per-command timeout.
        lock_dir: where UUCP lock files (``LCK..ttyUSB0``, written by pppd) are looked for.
    """

    def __init__(self, settings: ModemSettings, *, lock_dir: Path = Path("/var/lock")) -> None:
        self._settings = settings
        self._lock_dir = lock_dir
        self._port: Any = None  # serial.SerialBase while open
        self._lock = threading.Lock()
        self._urcs: collections.deque[str] = collections.deque(maxlen=URC_HISTORY)
        # Its own lock: reading the URC log must not wait for a command in progress.
        self._urc_lock = threading.Lock()
        self._iccid_command: str | None = None
        self._last_error: ModemError | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def open(self) -> None:
        """Open the port and turn command echo off; raises :class:`ModemError`."""
        with self._lock:
            self._ensure_open()

    def close(self) -> None:
        """Close the port (idempotent)."""
        with self._lock:
            self._close()

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def __enter__(self) -> AtModem:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def recent_urcs(self) -> tuple[str, ...]:
        """The unsolicited result codes set aside so far, oldest first (bounded)."""
        with self._urc_lock:
            return tuple(self._urcs)

    # -- the Modem seam ------------------------------------------------------------------

    @property
    def last_error(self) -> ModemError | None:
        """The session failure behind the latest UNKNOWN answer; None after a good one."""
        return self._last_error

    def identity(self) -> ModemIdentity:
        """IMEI, IMSI and ICCID; each None if the modem cannot tell (never raises)."""
        with self._lock:
            try:
                self._ensure_open()
                imei = self._query_value("AT+CGSN", parse_imei)
                imsi = self._query_value("AT+CIMI", parse_imsi)
                iccid = self._read_iccid()
            except ModemError as exc:
                self._note_failure("identity", exc)
                return ModemIdentity(None, None, None)
            self._last_error = None
            return ModemIdentity(imei, imsi, iccid)

    def health(self) -> ModemHealth:
        """Registration, signal and operator; UNKNOWN with a reason if the port fails."""
        with self._lock:
            refused: list[str] = []
            try:
                self._ensure_open()
                csq = self._query_value("AT+CSQ", parse_csq, refused)
                states = []
                for command, prefix in _REGISTRATION_COMMANDS:
                    parse = functools.partial(parse_registration, prefix=prefix)
                    status = self._query_value(command, parse, refused)
                    if status is not None:
                        states.append(status.registration)
                operator = self._query_value("AT+COPS?", parse_cops, refused)
            except ModemError as exc:
                self._note_failure("health", exc)
                return ModemHealth(Registration.UNKNOWN, None, None, detail=str(exc))
            self._last_error = None
            # 3G-only modems refuse +CEREG (and some +CGREG); only all three refused matters.
            detail = "" if states else "no registration answer: " + "; ".join(refused)
            return ModemHealth(
                best_registration(states), csq.dbm if csq else None, operator, detail
            )

    def _note_failure(self, what: str, exc: ModemError) -> None:
        """Log a failure once per change of reason, so a busy port does not flood the log."""
        previous = self._last_error
        level = logging.DEBUG if previous and previous.reason is exc.reason else logging.WARNING
        logger.log(level, "modem %s unavailable: %s", what, exc)
        self._last_error = exc

    # -- commands ------------------------------------------------------------------------

    def command(self, command: str, timeout: float | None = None) -> AtResponse:
        """Send one command line and return its answer (any final result code).

        Raises :class:`ModemError` for a session failure (timeout, port lost, PPP, garbage,
        oversized answer); an ``ERROR`` answer is returned, not raised.
        """
        if not command.isascii() or not command.isprintable():
            # A CR or LF inside would smuggle a second command line to the modem.
            raise ValueError(f"not a single printable ASCII command line: {command!r}")
        with self._lock:
            self._ensure_open()
            return self._command(command, timeout)

    def _query_value(
        self,
        command: str,
        parse: Callable[[Sequence[str]], T],
        refused: list[str] | None = None,
    ) -> T | None:
        """Run ``command``; its parsed value, or None if the modem refused or answered nonsense.

        A refusal or a malformed answer is one value lost, not a broken session: it is
        noted in ``refused`` and the caller carries on with the next command.
        """
        response = self._command(command)
        if not response.ok:
            note = f"{command} -> {response.final.value} {response.error_detail}".rstrip()
            logger.debug("%s", note)
        else:
            try:
                return parse(response.lines)
            except AtParseError as exc:
                note = f"{command} -> {exc}"
                logger.warning("%s", note)
        if refused is not None:
            refused.append(note)
        return None

    def _read_iccid(self) -> str | None:
        known = self._iccid_command
        for command in (known,) if known is not None else ICCID_COMMANDS:
            value = self._query_value(command, parse_iccid)
            if value is not None:
                self._iccid_command = command
                return value
        return None

    def _command(self, command: str, timeout: float | None = None) -> AtResponse:
        port = self._port
        budget = self._settings.command_timeout_seconds if timeout is None else timeout
        try:
            self._drain_pending(port)
            port.write(command.encode("ascii") + b"\r")  # V.250 5.2.1: S3 ends the line
            port.flush()
            return self._read_response(port, command, time.monotonic() + budget, budget)
        except (serial.SerialException, OSError) as exc:
            self._close()
            raise ModemError(ModemErrorReason.PORT_LOST, f"{command}: {exc}") from exc
        except ModemError:
            # Timeouts, PPP and garbage leave the session in an unknown state: start over.
            self._close()
            raise

    def _read_response(self, port: Any, command: str, deadline: float, budget: float) -> AtResponse:
        reader = ResponseReader(command)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise reader.timeout_error(budget)
            port.timeout = remaining  # a blocking read until data or the deadline: no busy loop
            data = port.read(1)
            if data:
                data += port.read(min(port.in_waiting, _READ_CHUNK))
            response = reader.feed(data)
            if response is not None:
                self._keep_urcs(response.urcs)
                return response

    def _drain_pending(self, port: Any) -> None:
        """Set aside URCs that arrived between commands; drop stale answers."""
        waiting = min(port.in_waiting, MAX_RESPONSE_BYTES)
        if not waiting:
            return
        data = port.read(waiting)
        if looks_like_ppp(data):
            raise ModemError(ModemErrorReason.PPP_BUSY, "PPP frames on the AT port")
        for line in LineSplitter().feed(data):
            kind, text = classify(line, "")
            if kind is LineKind.URC:
                self._keep_urcs((text,))
        port.reset_input_buffer()

    def _keep_urcs(self, urcs: tuple[str, ...]) -> None:
        for urc in urcs:
            logger.info("modem URC: %s", urc)
            with self._urc_lock:
                self._urcs.append(urc)

    # -- the port ------------------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._port is not None:
            return
        url = self._settings.port
        self._check_uucp_lock(url)
        try:
            self._port = serial.serial_for_url(
                url,
                baudrate=self._settings.baudrate,
                timeout=self._settings.command_timeout_seconds,
                # flock(LOCK_EX): a second AtModem (or ModemManager) would garble answers.
                exclusive=True,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            reason = ModemErrorReason.PORT_UNAVAILABLE
            # pyserial has no typed error for a failed flock; its message says "lock".
            if "lock" in str(exc).lower():
                reason = ModemErrorReason.PORT_LOCKED
            raise ModemError(reason, f"cannot open {url}: {exc}") from exc
        logger.info("modem port %s open", url)
        # Echo off (V.250 6.2.4) saves bytes; the parser tolerates echo if it stays on.
        self._command("ATE0")

    def _check_uucp_lock(self, url: str) -> None:
        """Refuse a device that pppd has locked (FHS 5.9: /var/lock/LCK..<device>)."""
        if "://" in url:
            return
        lock = self._lock_dir / f"LCK..{Path(os.path.realpath(url)).name}"
        try:
            pid = int(lock.read_text(encoding="ascii", errors="replace").split()[0])
        except (OSError, ValueError, IndexError):
            return
        if pid > 0 and _process_alive(pid):
            raise ModemError(ModemErrorReason.PORT_LOCKED, f"{url} is locked by pid {pid}")

    def _close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError) as exc:
                logger.debug("closing %s: %s", self._settings.port, exc)


def _process_alive(pid: int) -> bool:
    """Whether ``pid`` exists (signal 0 checks without sending; EPERM means it exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
