"""A dependency-free client of systemd's service notification protocol.

The protocol (sd_notify(3), systemd.service(5) "Type=notify"): the service manager puts
the path of an AF_UNIX datagram socket in ``$NOTIFY_SOCKET`` (an absolute path, or an
abstract-namespace name written with a leading ``@``); the service sends newline-separated
``KEY=VALUE`` assignments to it, one state change per datagram. Outside systemd the
variable is absent and every call here does nothing, so the daemon runs the same way in a
terminal, in the tests and under the unit.

How the daemon is meant to use it (systemd.service(5), Type=notify)::

    notifier = SdNotifier.from_environment()
    ...                                   # start serving (GATT application registered)
    notifier.ready()
    every notifier.watchdog_interval() s: notifier.watchdog()   # when not None, from a
                                          # task on the event loop, so a stuck loop stops it
    on a state change:  notifier.status(format_status_line(...))
    on SIGHUP:          notifier.reloading(); reload; notifier.ready()
    on SIGTERM:         notifier.stopping(); shut down; notifier.close()

Sending never blocks (``MSG_DONTWAIT``: a busy or hung PID 1 must not stall the event
loop) and never raises into the daemon: a failed send returns False and is logged once per
streak of failures.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from collections.abc import Mapping

from endorse_ble.tokenlink.text import one_line

log = logging.getLogger(__name__)

# systemd ignores a STATUS= longer than STATUS_TEXT_MAX, 16 KiB (src/core/service.h);
# 2048 characters of at most 4 UTF-8 bytes each stay well inside it, so a whole error
# message with its hint fits (`systemctl status` folds a long line to the terminal; -l
# shows it all). The bound is for hostile texts, not for a terminal's width.
STATUS_MAX_CHARS = 2048
_KEY = re.compile(r"[A-Z][A-Z0-9_]*\Z")


def _socket_address(value: str) -> bytes | None:
    """The sockaddr_un path for a NOTIFY_SOCKET value, or None if it is not one we use."""
    if value.startswith("/"):
        return os.fsencode(value)
    if value.startswith("@") and len(value) > 1:
        # Abstract namespace: the leading '@' stands for the NUL byte (unix(7)).
        return b"\0" + os.fsencode(value[1:])
    return None


def _parse_watchdog(environ: Mapping[str, str], pid: int) -> int | None:
    """WATCHDOG_USEC in microseconds when the watchdog is meant for process ``pid``."""
    raw_usec = environ.get("WATCHDOG_USEC")
    if raw_usec is None:
        return None
    try:
        usec = int(raw_usec, 10)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not a decimal integer", raw_usec)
        return None
    if usec <= 0:
        log.warning("ignoring WATCHDOG_USEC=%r: not positive", raw_usec)
        return None
    raw_pid = environ.get("WATCHDOG_PID")
    if raw_pid is not None:
        # sd_watchdog_enabled(3): WATCHDOG_PID names the process the watchdog is for; a
        # child that inherited the environment must not answer for its parent.
        try:
            watchdog_pid = int(raw_pid, 10)
        except ValueError:
            log.warning("ignoring the watchdog: WATCHDOG_PID=%r is not a number", raw_pid)
            return None
        if watchdog_pid != pid:
            log.debug("the watchdog is for pid %s, not this process (%s)", watchdog_pid, pid)
            return None
    return usec


class SdNotifier:
    """Tells systemd about the daemon's state over ``$NOTIFY_SOCKET``.

    Build it with :meth:`from_environment`. The socket is opened on the first send and
    closed by :meth:`close`. Every method returns True when a datagram was sent, False
    when there is no notify socket or the send failed (logged, never raised).
    """

    def __init__(self, address: bytes | None, watchdog_usec: int | None = None) -> None:
        """Use ``address`` (a sockaddr_un path; None: a no-op notifier).

        Args:
            address: the socket path as bytes, a leading NUL for the abstract namespace.
            watchdog_usec: the watchdog timeout systemd enforces, if any.
        """
        self._address = address
        self._watchdog_usec = watchdog_usec
        self._socket: socket.socket | None = None
        self._failing = False

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, *, pid: int | None = None
    ) -> SdNotifier:
        """A notifier for NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID.

        Args:
            environ: the environment to read (default ``os.environ``).
            pid: this process's id, compared with WATCHDOG_PID (default ``os.getpid()``).

        Returns:
            A notifier; a no-op one when NOTIFY_SOCKET is absent or unusable. Bad watchdog
            values are ignored with a warning (the daemon then sends no pings; systemd
            restarts it only if it really set a watchdog, which shows the misconfiguration).
        """
        env = os.environ if environ is None else environ
        raw_socket = env.get("NOTIFY_SOCKET", "")
        address = _socket_address(raw_socket) if raw_socket else None
        if raw_socket and address is None:
            # e.g. systemd 254's "vsock:CID:PORT", which a gateway service never gets.
            log.warning("ignoring NOTIFY_SOCKET=%r: not a path or @abstract name", raw_socket)
        watchdog_usec = _parse_watchdog(env, os.getpid() if pid is None else pid)
        return cls(address, watchdog_usec)

    @property
    def enabled(self) -> bool:
        """Whether there is a notify socket to talk to."""
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between :meth:`watchdog` pings, or None when no watchdog is armed.

        Half of WATCHDOG_USEC, as sd_watchdog_enabled(3) recommends: one late ping (a slow
        modem command, a loaded CPU) still leaves half the timeout before systemd acts.
        """
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def ready(self, status: str | None = None) -> bool:
        """READY=1: start-up (or a reload) finished; send only once serving works."""
        fields = {"READY": "1"}
        if status is not None:
            # One line: a newline in a hostile error text would start a forged READY=1.
            fields["STATUS"] = one_line(status, STATUS_MAX_CHARS)
        return self.send(**fields)

    def reloading(self) -> bool:
        """RELOADING=1 with MONOTONIC_USEC, for a reload on SIGHUP; follow with ready().

        systemd 253+ (Type=notify-reload) requires MONOTONIC_USEC, CLOCK_MONOTONIC in
        microseconds, to tell this reload from an earlier one; older versions ignore it.
        """
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send(RELOADING="1", MONOTONIC_USEC=str(usec))

    def stopping(self) -> bool:
        """STOPPING=1: shutdown has begun."""
        return self.send(STOPPING="1")

    def status(self, text: str) -> bool:
        """STATUS=<text> for `systemctl status`, sanitised to one bounded line."""
        return self.send(STATUS=one_line(text, STATUS_MAX_CHARS))

    def watchdog(self) -> bool:
        """WATCHDOG=1: the keep-alive ping; send it every :meth:`watchdog_interval`."""
        return self.send(WATCHDOG="1")

    def send(self, **fields: str) -> bool:
        """Send ``KEY=VALUE`` assignments in one datagram.

        Raises:
            ValueError: a key is not upper-case ``[A-Z][A-Z0-9_]*`` or a value contains a
                newline or NUL (a programming error, caught in tests, not a send failure).
        """
        if not fields:
            raise ValueError("nothing to send")
        lines = []
        for key, value in fields.items():
            if not _KEY.match(key):
                raise ValueError(f"not a notification key: {key!r}")
            if "\n" in value or "\0" in value:
                raise ValueError(f"{key} value contains a newline or NUL")
            lines.append(f"{key}={value}")
        payload = "\n".join(lines).encode("utf-8")
        if self._address is None:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
            self._socket.sendto(payload, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL, self._address)
        except OSError as exc:
            if not self._failing:
                log.warning("cannot notify systemd (%s); retrying on later updates", exc)
            else:
                log.debug("cannot notify systemd: %s", exc)
            self._failing = True
            return False
        if self._failing:
            log.info("notifying systemd works again")
            self._failing = False
        return True

    def close(self) -> None:
        """Close the socket (a later send opens a new one)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
