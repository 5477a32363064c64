"""The fake ``org.bluez`` service: one asyncio process on both buses.

On the peripheral bus it is hci0's bluetoothd (what bless talks to); on the central bus
hci1's (what bleak talks to). The two halves share the emulated air: counters and faults.
:meth:`FakeBluez.restart` drops both connections, so the name vanishes from both buses and
comes back with all state forgotten, as when bluetoothd restarts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.constants import RequestNameReply

from endorse_ble.testbed.bluez import att
from endorse_ble.testbed.bluez.central_side import CentralSide
from endorse_ble.testbed.bluez.counters import AirCounters
from endorse_ble.testbed.bluez.errors import FakeBluezError, FakeBluezReason
from endorse_ble.testbed.bluez.link import Faults
from endorse_ble.testbed.bluez.objects import PROPERTIES, ObjectServer, call_remote
from endorse_ble.testbed.bluez.peripheral_side import PeripheralSide

logger = logging.getLogger(__name__)

BUS_NAME = "org.bluez"
PERIPHERAL_ADDRESS = "C0:FF:EE:00:00:01"
CENTRAL_ADDRESS = "C0:FF:EE:00:00:02"
#: Laptops a fake models at most (hci1..hci9).
MAX_LAPTOPS = 9


def laptop_address(index: int) -> str:
    """The address of laptop ``index`` (0-based): hci1 is C0:FF:EE:00:00:02, and so on."""
    return f"C0:FF:EE:00:00:{index + 2:02X}"


_NAME_OWNER_RULE = (
    "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
    "member='NameOwnerChanged'"
)
_VALUE_RULE = f"type='signal',interface='{PROPERTIES}',member='PropertiesChanged'"


async def _connect(address: str) -> MessageBus:
    # Unix fd passing for AcquireWrite/AcquireNotify.
    bus = MessageBus(bus_address=address, negotiate_unix_fd=True)
    await bus.connect()
    return bus


async def _own_name(bus: MessageBus, name: str) -> None:
    reply = await bus.request_name(name)
    if reply not in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
        raise FakeBluezError(FakeBluezReason.DAEMON_FAILED, f"could not own {name}: {reply}")


async def _add_match(bus: MessageBus, rule: str) -> None:
    await call_remote(
        bus,
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "AddMatch",
        "s",
        [rule],
    )


class FakeBluez:
    """bluetoothd for the gateway host and ``laptops`` laptops (adapters hci1..hciN, each
    on its own bus when ``laptop_buses`` gives them: separate hosts); start/stop/restart,
    faults shared, counters per laptop."""

    def __init__(
        self,
        peripheral_address: str,
        central_address: str,
        mtu: int,
        laptops: int = 1,
        att_timeout: float = 30.0,
        laptop_buses: list[str] | None = None,
    ) -> None:
        if not 1 <= laptops <= MAX_LAPTOPS:
            raise ValueError(f"laptops must be 1..{MAX_LAPTOPS}, not {laptops}")
        self.peripheral_address = peripheral_address
        self.central_address = central_address
        #: The bus of each laptop (hci1 first); by default all on the central bus.
        self.laptop_buses = laptop_buses or [central_address] * laptops
        if len(self.laptop_buses) != laptops:
            raise ValueError("one bus address per laptop")
        self.laptop_counters = [AirCounters() for _ in range(laptops)]
        #: hci1's counters (the only laptop unless --laptops says otherwise).
        self.counters = self.laptop_counters[0]
        self.faults = Faults(mtu=att.check_mtu(mtu), att_timeout=att_timeout)
        self._buses: list[MessageBus] = []
        self.peripheral: PeripheralSide | None = None
        self.central: CentralSide | None = None
        self.centrals: list[CentralSide] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        """Whether the fake currently owns ``org.bluez`` on its buses."""
        return bool(self._buses)

    async def start(self) -> None:
        """Connect to both buses, export the adapters and own ``org.bluez``."""
        pbus = await _connect(self.peripheral_address)
        central_buses: dict[str, MessageBus] = {}
        for address in self.laptop_buses:
            if address not in central_buses:
                central_buses[address] = await _connect(address)
        self._buses = [pbus, *central_buses.values()]
        pserver = ObjectServer(pbus)
        cservers = {address: ObjectServer(bus) for address, bus in central_buses.items()}
        self.peripheral = PeripheralSide(pserver, PERIPHERAL_ADDRESS, self._adverts_changed)
        self.centrals = [
            CentralSide(
                cservers[self.laptop_buses[index]],
                laptop_address(index),
                self.peripheral,
                counters,
                self.faults,
                name=f"hci{index + 1}",
            )
            for index, counters in enumerate(self.laptop_counters)
        ]
        self.central = self.centrals[0]
        for server in (pserver, *cservers.values()):
            server.attach()
        self.peripheral.install()
        for central in self.centrals:
            central.install()
        pbus.add_message_handler(self._on_peripheral_signal)
        for address, bus in central_buses.items():
            on_bus = [
                c for c, a in zip(self.centrals, self.laptop_buses, strict=True) if a == address
            ]
            bus.add_message_handler(self._central_signal_handler(on_bus))
        for bus in self._buses:
            await _add_match(bus, _NAME_OWNER_RULE)
        await _add_match(pbus, _VALUE_RULE)
        for bus in self._buses:
            await _own_name(bus, BUS_NAME)
        logger.info("org.bluez up (MTU %d)", self.faults.mtu)

    async def stop(self) -> None:
        """Leave both buses without a goodbye (like a bluetoothd that exits)."""
        buses, self._buses = self._buses, []
        if self.peripheral is not None:
            self.peripheral.pairing.shutdown()
        for central in self.centrals:
            central.shutdown()
        self.peripheral = self.central = None
        self.centrals = []
        for bus in buses:
            bus.disconnect()
        for bus in buses:
            await bus.wait_for_disconnect()
        logger.info("org.bluez gone")

    async def restart(self, delay: float) -> None:
        """Vanish from both buses, wait ``delay`` seconds, come back with no state."""
        await self.stop()
        self.faults.drop_after = None
        self.faults.refuse_next_connect = False
        self.faults.pause_after = None
        self.faults.resume.set()  # a held read must not outlive its link
        await asyncio.sleep(delay)
        await self.start()

    # --- signals -----------------------------------------------------------------------

    def _adverts_changed(self) -> None:
        for central in self.centrals:
            central.refresh_devices()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _left(self, msg: Message) -> str | None:
        if msg.member == "NameOwnerChanged" and msg.sender == "org.freedesktop.DBus":
            name, _old, new = msg.body
            if name.startswith(":") and not new:
                return str(name)
        return None

    def _on_peripheral_signal(self, msg: Message) -> bool:
        if msg.message_type != MessageType.SIGNAL:
            return False
        gone = self._left(msg)
        if gone is not None and self.peripheral is not None:
            self.peripheral.forget_sender(gone)
        elif (
            msg.member == "PropertiesChanged"
            and msg.interface == PROPERTIES
            and msg.body
            and msg.body[0] == "org.bluez.GattCharacteristic1"
            and "Value" in msg.body[1]
            and self.central is not None
        ):
            value = msg.body[1]["Value"].value
            if isinstance(value, bytes | bytearray):
                for central in self.centrals:
                    central.on_app_value(str(msg.sender), str(msg.path), bytes(value))
        return False

    def _central_signal_handler(self, centrals: list[CentralSide]) -> Callable[[Message], bool]:
        """The handler for one laptop bus: unique names are per bus, so a client leaving
        one laptop's bus must not end the sessions of a namesake on another's."""

        def handler(msg: Message) -> bool:
            if msg.message_type != MessageType.SIGNAL:
                return False
            gone = self._left(msg)
            if gone is not None:
                for central in centrals:
                    self._spawn(central.forget_sender(gone))
            return False

        return handler
