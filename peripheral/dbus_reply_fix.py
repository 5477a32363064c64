"""A narrow workaround for dbus_next 0.2.3 logging refused method calls as crashes.

dbus_next's ``SendReply.__exit__`` (message_bus.py) calls ``_exit()``, which sends a
``DBusError`` raised by a service method as the error reply and returns True, but does not
return that result: the already-answered exception propagates and ``_on_message`` logs it
at ERROR with a 25-line traceback (field-facts.md). Every refused GATT request from the
air (a malformed nonce, a read offset past the end) did that, so anyone in range could
flood the journal.

:func:`install` wraps the bus's ``_send_reply`` on one bus instance so that ``__exit__``
returns ``_exit()``'s result for a ``DBusError`` only. Any other exception from a service
method still goes the library's way (error reply, logged with its traceback): that is a
bug of ours and should be loud. Remove this module once bless moves past dbus_next 0.2.3.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any


class _AnsweredReply:
    """Delegates to dbus_next's SendReply; swallows a DBusError once it was answered."""

    def __init__(self, reply: Any, dbus_error: type[BaseException]) -> None:
        self._reply = reply
        self._dbus_error = dbus_error

    def __enter__(self) -> _AnsweredReply:
        return self

    def __call__(self, message: Any) -> None:
        self._reply(message)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        answered = self._reply._exit(exc_type, exc, tb)
        return bool(answered) and exc_type is not None and issubclass(exc_type, self._dbus_error)

    def send_error(self, exc: BaseException) -> None:
        self._reply.send_error(exc)


def install(bus: Any, dbus_error: type[BaseException]) -> None:
    """Apply the workaround to ``bus`` (a dbus_next MessageBus); idempotent.

    ``dbus_error`` is ``dbus_next.errors.DBusError`` (passed in so that only the GATT
    adapter imports the D-Bus library).
    """
    original = bus._send_reply
    if getattr(original, "_answered_reply_fix", False):
        return

    def send_reply(message: Any) -> _AnsweredReply:
        return _AnsweredReply(original(message), dbus_error)

    send_reply._answered_reply_fix = True  # type: ignore[attr-defined]
    bus._send_reply = send_reply
