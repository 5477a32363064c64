"""The testbed's control interface, on its own connection so it survives Restart.

Name ``org.endorse.Testbed`` on the central bus, object ``/org/endorse/testbed``,
interface ``org.endorse.Testbed1``; :mod:`endorse_ble.testbed.bluez.control` is the typed client.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from dbus_fast import Message, Variant
from dbus_fast.aio import MessageBus

from endorse_ble.testbed.bluez import att
from endorse_ble.testbed.bluez.fake import FakeBluez
from endorse_ble.testbed.bluez.objects import DBusReplyError, Interface, Method, ObjectServer

logger = logging.getLogger(__name__)

CONTROL_NAME = "org.endorse.Testbed"
CONTROL_PATH = "/org/endorse/testbed"
CONTROL_INTERFACE = "org.endorse.Testbed1"
_INVALID = "org.endorse.Testbed.Error.InvalidArguments"


class ControlService:
    """Serves GetCounters, ResetCounters, SetMtu, GetState, DropAfter, RefuseNextConnect,
    PauseAfter, WaitPaused, Resume and Restart for one :class:`FakeBluez`."""

    def __init__(self, fake: FakeBluez, bus_address: str) -> None:
        self._fake = fake
        self._address = bus_address
        self._bus: MessageBus | None = None

    async def start(self) -> None:
        """Connect, export the control object and own the control name."""
        self._bus = await MessageBus(bus_address=self._address).connect()
        server = ObjectServer(self._bus)
        server.attach()
        server.add(
            CONTROL_PATH,
            {
                CONTROL_INTERFACE: Interface(
                    methods={
                        "GetCounters": Method("", "a{st}", self._get_counters),
                        "ResetCounters": Method("", "", self._reset_counters),
                        "SetMtu": Method("q", "", self._set_mtu),
                        "GetState": Method("", "a{sv}", self._get_state),
                        "DropAfter": Method("u", "", self._drop_after),
                        "RefuseNextConnect": Method("", "", self._refuse_next_connect),
                        "PauseAfter": Method("u", "", self._pause_after),
                        "WaitPaused": Method("d", "b", self._wait_paused),
                        "Resume": Method("", "", self._resume),
                        "Restart": Method("d", "", self._restart),
                    }
                )
            },
        )
        await self._bus.request_name(CONTROL_NAME)

    async def stop(self) -> None:
        """Leave the bus."""
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.disconnect()
            await bus.wait_for_disconnect()

    async def _get_counters(self, msg: Message) -> list[Any]:
        return [self._fake.counters.snapshot()]

    async def _reset_counters(self, msg: Message) -> list[Any]:
        self._fake.counters.reset()
        return []

    async def _set_mtu(self, msg: Message) -> list[Any]:
        try:
            self._fake.faults.mtu = att.check_mtu(int(msg.body[0]))
        except ValueError as err:
            raise DBusReplyError(_INVALID, str(err)) from err
        return []

    async def _get_state(self, msg: Message) -> list[Any]:
        fake = self._fake
        peripheral, central = fake.peripheral, fake.central
        links = [d for d in central.devices.values() if d.link] if central else []
        return [
            {
                "running": Variant("b", fake.running),
                "mtu": Variant("q", fake.faults.mtu),
                "applications": Variant("u", len(peripheral.applications) if peripheral else 0),
                "advertisements": Variant("u", len(peripheral.advertisements) if peripheral else 0),
                "connections": Variant("u", len(links)),
                "discovering": Variant("b", bool(central and central.sessions)),
            }
        ]

    async def _drop_after(self, msg: Message) -> list[Any]:
        self._fake.faults.drop_after = int(msg.body[0])
        return []

    async def _pause_after(self, msg: Message) -> list[Any]:
        faults = self._fake.faults
        faults.paused.clear()
        faults.resume.clear()
        faults.pause_after = int(msg.body[0])
        return []

    async def _wait_paused(self, msg: Message) -> list[Any]:
        timeout = float(msg.body[0])
        if not 0 <= timeout <= 60:
            raise DBusReplyError(_INVALID, "timeout must be within 0..60 s")
        try:
            await asyncio.wait_for(self._fake.faults.paused.wait(), timeout)
        except TimeoutError:
            return [False]
        return [True]

    async def _resume(self, msg: Message) -> list[Any]:
        self._fake.faults.resume.set()
        return []

    async def _refuse_next_connect(self, msg: Message) -> list[Any]:
        self._fake.faults.refuse_next_connect = True
        return []

    async def _restart(self, msg: Message) -> list[Any]:
        delay = float(msg.body[0])
        if not 0 <= delay <= 60:
            raise DBusReplyError(_INVALID, "delay must be within 0..60 s")
        await self._fake.restart(delay)
        return []
