"""The modem read through ModemManager's D-Bus API: ``[modem] backend = "modemmanager"``.

The only gateway module that talks to ModemManager. On Debian gateways with
NetworkManager, ModemManager owns the modem and opens its ports exclusively (TIOCEXCL),
so instead of an AT port this reads what ModemManager already knows: one
``GetManagedObjects`` call on ``org.freedesktop.ModemManager1`` per poll gives the modem
(registration, signal, operator, IMEI) and its SIM (IMSI, ICCID) at once. The reading is
interpreted by the pure :mod:`endorse_ble.peripheral.mm_reading`.

Like :class:`~endorse_ble.peripheral.at_modem.AtModem` it is blocking (the daemon polls it
from a worker thread), never raises to its caller, and bounds each poll by the command
timeout. It uses dbus_next, the D-Bus library bless already brings, on the system bus
(``DBUS_SYSTEM_BUS_ADDRESS`` when set). The D-Bus policy that lets the daemon's user
call ModemManager is in ``systemd/dbus-1``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from dbus_next.aio.message_bus import MessageBus
from dbus_next.constants import BusType, MessageType
from dbus_next.errors import DBusError
from dbus_next.message import Message

from endorse_ble.peripheral.mm_reading import MM_NAME, MM_PATH, Objects, reading_from_objects
from endorse_ble.peripheral.modem_errors import ModemError, ModemErrorReason
from endorse_ble.peripheral.ports import ModemHealth, ModemIdentity, Registration
from endorse_ble.peripheral.settings import ModemSettings

logger = logging.getLogger(__name__)

_UNKNOWN = ModemIdentity(None, None, None)


class MmModem:
    """A :class:`~endorse_ble.peripheral.ports.Modem` backed by ModemManager."""

    def __init__(self, settings: ModemSettings) -> None:
        self._settings = settings
        self._identity = _UNKNOWN
        self._last_error: ModemError | None = None

    @property
    def last_error(self) -> ModemError | None:
        return self._last_error

    def health(self) -> ModemHealth:
        """Registration, signal and operator; UNKNOWN with a reason when unreadable."""
        try:
            health, self._identity = self._read()
        except ModemError as exc:
            self._note_failure(exc)
            self._identity = _UNKNOWN
            return ModemHealth(
                Registration.UNKNOWN, None, None, detail=str(exc), fault=exc.reason.value
            )
        self._last_error = None
        return health

    def identity(self) -> ModemIdentity:
        """IMEI, IMSI and ICCID as of the latest :meth:`health` (read now if none yet)."""
        if self._identity == _UNKNOWN:
            self.health()
        return self._identity

    def close(self) -> None:
        """Nothing is held between polls (each opens its own bus connection)."""

    def _note_failure(self, exc: ModemError) -> None:
        previous = self._last_error
        level = logging.DEBUG if previous and previous.reason is exc.reason else logging.WARNING
        logger.log(level, "modem unavailable: %s", exc)
        self._last_error = exc

    def _read(self) -> tuple[ModemHealth, ModemIdentity]:
        timeout = self._settings.command_timeout_seconds
        try:
            objects = asyncio.run(asyncio.wait_for(_managed_objects(), timeout))
        except TimeoutError:
            raise ModemError(
                ModemErrorReason.TIMEOUT, f"ModemManager did not answer within {timeout:g} s"
            ) from None
        except DBusError as exc:
            raise ModemError(
                ModemErrorReason.MANAGER_UNAVAILABLE,
                f"ModemManager is not reachable on the system bus ({exc.type})",
            ) from None
        except (OSError, ValueError, EOFError) as exc:
            raise ModemError(
                ModemErrorReason.MANAGER_UNAVAILABLE, f"cannot reach the system bus ({exc})"
            ) from None
        return reading_from_objects(objects, self._settings.modem_id)


async def _managed_objects() -> Objects:
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    try:
        reply = await bus.call(
            Message(
                destination=MM_NAME,
                path=MM_PATH,
                interface="org.freedesktop.DBus.ObjectManager",
                member="GetManagedObjects",
            )
        )
    finally:
        bus.disconnect()
        await bus.wait_for_disconnect()
        # dbus_next 0.2.3 only shuts the socket down; close it rather than leave it to GC.
        bus._sock.close()
    if reply is None or reply.message_type is MessageType.ERROR:
        name = reply.error_name if reply is not None else "no reply"
        raise DBusError(name or "org.freedesktop.DBus.Error.Failed", "GetManagedObjects failed")
    return {
        path: {iface: {k: _plain(v) for k, v in props.items()} for iface, props in ifaces.items()}
        for path, ifaces in reply.body[0].items()
    }


def _plain(value: Any) -> Any:
    """A property's value with every Variant unpacked."""
    value = getattr(value, "value", value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
