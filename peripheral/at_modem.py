"""The modem over AT commands (the port itself is :mod:`endorse_ble.peripheral.at_port`).

:class:`AtModem` implements the :class:`~endorse_ble.peripheral.ports.Modem` seam. It is
blocking (the daemon calls it from a worker thread) and never raises to its caller: a port that is
missing, locked by pppd or ModemManager, gone mid-session, silent, no longer reading,
speaking PPP or spewing garbage turns into ``Registration.UNKNOWN`` with a ``detail`` saying
why, and the next call tries again (reopening the port, so a modem that re-enumerates after
a reset comes back by itself). Every call ends within its deadline: writes are bounded, and
a call that finds another one still stuck on the port gives up after the command timeout.

The identity (IMEI, IMSI, ICCID) is read each time the port is opened, so a SIM swapped
while the modem was away is noticed; :meth:`AtModem.identity` answers from that reading.
"""

from __future__ import annotations

import collections
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from endorse_ble.peripheral import at_port
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
        self._identity = ModemIdentity(None, None, None)
        # close() came while a call held the port: the call closes it as it leaves.
        self._close_when_free = False

    # -- lifecycle -----------------------------------------------------------------------

    def open(self) -> None:
        """Open the port and turn command echo off; raises :class:`ModemError`."""
        with self._session():
            self._ensure_open()

    def close(self) -> None:
        """Close the port (idempotent); never waits long for a call stuck on the port.

        A stuck call keeps the port: pyserial is not thread-safe, and closing under a call
        frees descriptor numbers that the call goes on reading, writing and closing once
        they belong to some other file. The call closes the port as it leaves, which it
        does by its deadline.
        """
        if self._lock.acquire(timeout=self._settings.command_timeout_seconds):
            try:
                self._close()
            finally:
                self._lock.release()
            return
        self._close_when_free = True
        if self._lock.acquire(blocking=False):  # the call left between the two looks
            try:
                self._close()
            finally:
                self._lock.release()

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

    @contextmanager
    def _session(self) -> Iterator[None]:
        """Hold the port for one call, or fail within the command timeout if it is stuck."""
        if not self._lock.acquire(timeout=self._settings.command_timeout_seconds):
            raise ModemError(
                ModemErrorReason.STUCK, "an earlier modem command is still stuck on the port"
            )
        try:
            yield
        finally:
            if self._close_when_free:
                self._close()
            self._lock.release()

    # -- the Modem seam ------------------------------------------------------------------

    @property
    def last_error(self) -> ModemError | None:
        """The session failure behind the latest UNKNOWN answer; None after a good one."""
        return self._last_error

    def identity(self) -> ModemIdentity:
        """IMEI, IMSI and ICCID as read when the port was last opened (never raises).

        Opens the port if needed (which reads them); each is None if the modem could not tell.
        """
        try:
            with self._session():
                self._ensure_open()
        except ModemError as exc:
            self._note_failure("identity", exc)
            # Whatever answers when the port comes back may be another modem or SIM.
            self._identity = ModemIdentity(None, None, None)
        return self._identity

    def health(self) -> ModemHealth:
        """Registration, signal and operator; UNKNOWN with a reason if the port fails."""
        refused: list[str] = []
        try:
            with self._session():
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
            return ModemHealth(
                Registration.UNKNOWN, None, None, detail=str(exc), fault=exc.reason.value
            )
        self._last_error = None
        # 3G-only modems refuse +CEREG (and some +CGREG); only all three refused matters.
        detail = "" if states else "no registration answer: " + "; ".join(refused)
        return ModemHealth(best_registration(states), csq.dbm if csq else None, operator, detail)

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
        oversized answer, a modem that stopped reading); an ``ERROR`` answer is returned.
        """
        if not command.isascii() or not command.isprintable():
            # A CR or LF inside would smuggle a second command line to the modem.
            raise ValueError(f"not a single printable ASCII command line: {command!r}")
        with self._session():
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

    def _read_identity(self) -> ModemIdentity:
        """IMEI, IMSI and ICCID from a freshly opened port; a refused one stays None."""
        imei = self._query_value("AT+CGSN", parse_imei)
        imsi = self._query_value("AT+CIMI", parse_imsi)
        return ModemIdentity(imei, imsi, self._read_iccid())

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
        deadline = time.monotonic() + budget
        try:
            self._drain_pending(port)
            # V.250 5.2.1: S3 ends the line. No flush(): that is an untimed tcdrain.
            at_port.write_line(port, command.encode("ascii") + b"\r", deadline)
            return self._read_response(port, command, deadline, budget)
        except at_port.PORT_ERRORS as exc:
            self._close()
            raise ModemError(ModemErrorReason.PORT_LOST, f"{command}: {exc}") from exc
        except ModemError:
            # Timeouts, PPP, garbage and a stuck port leave the session in an unknown
            # state: start over with a fresh open.
            self._close()
            raise

    def _read_response(self, port: Any, command: str, deadline: float, budget: float) -> AtResponse:
        reader = ResponseReader(command)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise reader.timeout_error(budget)
            response = reader.feed(at_port.read_some(port, remaining, _READ_CHUNK))
            if response is not None:
                self._keep_urcs(response.urcs)
                return response

    def _drain_pending(self, port: Any) -> None:
        """Set aside URCs that arrived between commands; drop stale answers."""
        data = at_port.take_waiting(port, MAX_RESPONSE_BYTES)
        if not data:
            return
        if looks_like_ppp(data):
            raise ModemError(ModemErrorReason.PPP_BUSY, "PPP frames on the AT port")
        for line in LineSplitter().feed(data):
            kind, text = classify(line, "")
            if kind is LineKind.URC:
                self._keep_urcs((text,))
        at_port.discard_input(port)

    def _keep_urcs(self, urcs: tuple[str, ...]) -> None:
        for urc in urcs:
            logger.debug("modem URC: %s", urc)
            with self._urc_lock:
                self._urcs.append(urc)

    # -- the port ------------------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._port is not None:
            return
        self._port = at_port.open_port(self._settings, self._lock_dir)
        logger.info("modem port %s open", self._settings.port)
        # Echo off (V.250 6.2.4) saves bytes; the parser tolerates echo if it stays on.
        self._command("ATE0")
        identity = self._read_identity()
        if identity != self._identity:
            logger.info(
                "modem identity: IMEI %s, ICCID %s",
                identity.imei or "unknown",
                identity.iccid or "unknown",
            )
        self._identity = identity

    def _close(self) -> None:
        """Close the port; only ever called by the thread holding the lock (or with no
        call in flight), never under a call using it."""
        self._close_when_free = False
        port, self._port = self._port, None
        if port is not None:
            at_port.close_port(port, self._settings.port)
