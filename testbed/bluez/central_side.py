"""A laptop's BlueZ (adapter hci1, hci2, ...): what bleak scans and connects with.

Adapter1 with discovery sessions per client (doc/org.bluez.Adapter.rst): StartDiscovery
twice -> InProgress, StopDiscovery without a session -> Failed "No discovery started".
Device1 objects appear for the peripheral adapter while it advertises, stay after
discovery stops (RSSI/TxPower invalidated), and connect through a :class:`GattLink`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from dbus_fast import Message, Variant

from endorse_ble.testbed.bluez.adverts import normalize_uuid, scan_response_name
from endorse_ble.testbed.bluez.att import Security
from endorse_ble.testbed.bluez.bonding import device_path
from endorse_ble.testbed.bluez.counters import AirCounters
from endorse_ble.testbed.bluez.link import Faults, GattLink
from endorse_ble.testbed.bluez.objects import DBusReplyError, Interface, Method, ObjectServer
from endorse_ble.testbed.bluez.peripheral_side import ADAPTER, PeripheralSide, adapter_properties

logger = logging.getLogger(__name__)

DEVICE = "org.bluez.Device1"
ERR = "org.bluez.Error"
RSSI = -52
#: Advertising reports while scanning: bless advertises every 100 ms, and BlueZ signals an
#: RSSI change per report (DuplicateData false still reports RSSI changes).
REPORT_INTERVAL = 0.1
_RSSI_SWING = (-52, -61)
_FILTER_KEYS = {
    "UUIDs",
    "RSSI",
    "Pathloss",
    "Transport",
    "DuplicateData",
    "Discoverable",
    "Pattern",
}


def filter_matches(flt: dict[str, Any], uuids: list[str], name: str | None, address: str) -> bool:
    """Whether a discovery filter lets a device through (adapter.c semantics, simplified)."""
    if flt.get("Transport", "auto") == "bredr":
        return False
    wanted = {normalize_uuid(u) for u in flt.get("UUIDs", [])}
    if wanted and not wanted & set(uuids):
        return False
    if "RSSI" in flt and max(_RSSI_SWING) < int(flt["RSSI"]):
        return False
    pattern = flt.get("Pattern", "")
    return not pattern or address.startswith(pattern) or (name or "").startswith(pattern)


@dataclass
class DeviceState:
    """What the central's BlueZ knows about one remote device."""

    path: str
    address: str
    paired: bool = False
    connecting: bool = False
    link: GattLink | None = None
    pending: set[asyncio.Task[None]] = field(default_factory=set)


class CentralSide:
    """One laptop adapter on the central bus: discovery, devices and connections to the
    peripheral. Several of them (``--laptops N``) are independent laptops: each has its own
    address (so the peripheral sees a different ``device``), links and counters."""

    def __init__(
        self,
        server: ObjectServer,
        address: str,
        peripheral: PeripheralSide,
        counters: AirCounters,
        faults: Faults,
        name: str = "hci1",
    ) -> None:
        self.name = name
        self.path = f"/org/bluez/{name}"
        self.server = server
        self.address = address
        self.peripheral = peripheral
        self.counters = counters
        self.faults = faults
        self.sessions: dict[str, dict[str, Any]] = {}
        self.filters: dict[str, dict[str, Any]] = {}
        self.devices: dict[str, DeviceState] = {}
        self._reporter: asyncio.Task[None] | None = None
        self._rssi = RSSI

    def install(self) -> None:
        """Export the adapter object."""
        adapter = Interface(
            props=adapter_properties(self.name, self.address, ["central"]),
            methods={
                "StartDiscovery": Method("", "", self._start_discovery),
                "StopDiscovery": Method("", "", self._stop_discovery),
                "SetDiscoveryFilter": Method("a{sv}", "", self._set_discovery_filter),
                "GetDiscoveryFilters": Method("", "as", self._get_discovery_filters),
                "RemoveDevice": Method("o", "", self._remove_device),
            },
        )
        adapter.setters["Alias"] = self._set_adapter_alias
        self.server.add(self.path, {ADAPTER: adapter})

    async def _set_adapter_alias(self, msg: Message, value: Variant) -> None:
        self.server.update(self.path, ADAPTER, {"Alias": Variant("s", str(value.value))})

    # --- discovery ---------------------------------------------------------------------

    async def _set_discovery_filter(self, msg: Message) -> list[Any]:
        flt: dict[str, Any] = {}
        for key, value in msg.body[0].items():
            if key not in _FILTER_KEYS or not isinstance(value, Variant):
                raise DBusReplyError(f"{ERR}.InvalidArguments", "Invalid arguments in method call")
            flt[key] = value.value
        if flt.get("Transport", "auto") not in ("auto", "bredr", "le"):
            raise DBusReplyError(f"{ERR}.InvalidArguments", "Invalid arguments in method call")
        self.filters[str(msg.sender)] = flt
        return []

    async def _get_discovery_filters(self, msg: Message) -> list[Any]:
        return [sorted(_FILTER_KEYS)]

    async def _start_discovery(self, msg: Message) -> list[Any]:
        sender = str(msg.sender)
        if sender in self.sessions:
            raise DBusReplyError(f"{ERR}.InProgress", "Operation already in progress")
        self.sessions[sender] = self.filters.get(sender, {})
        self.server.update(self.path, ADAPTER, {"Discovering": Variant("b", True)})
        if self._reporter is None:
            self._reporter = asyncio.get_running_loop().create_task(self._report())
        return []

    async def _report(self) -> None:
        """Emulate advertising reports: the first after the scan started, then periodic."""
        while self.sessions:
            await asyncio.sleep(REPORT_INTERVAL)
            if not self.sessions:
                break
            self._rssi = _RSSI_SWING[1] if self._rssi == _RSSI_SWING[0] else _RSSI_SWING[0]
            self.refresh_devices()

    async def _stop_discovery(self, msg: Message) -> list[Any]:
        sender = str(msg.sender)
        if sender not in self.sessions:
            raise DBusReplyError(f"{ERR}.Failed", "No discovery started")
        self._end_session(sender)
        return []

    def _end_session(self, sender: str) -> None:
        del self.sessions[sender]
        if self.sessions:
            return
        if self._reporter is not None:
            self._reporter.cancel()
            self._reporter = None
        self.server.update(self.path, ADAPTER, {"Discovering": Variant("b", False)})
        for state in self.devices.values():
            self.server.update(state.path, DEVICE, {}, invalidated=["RSSI", "TxPower"])

    def refresh_devices(self) -> None:
        """Report the peripheral adapter to discovering clients while it advertises."""
        ads = self.peripheral.advertisements
        if not self.sessions or not ads:
            return
        uuids = sorted({u for ad in ads for u in ad.service_uuids})
        name = next((ad.local_name for ad in ads if ad.local_name), None)
        address = self.peripheral.address
        if not any(filter_matches(f, uuids, name, address) for f in self.sessions.values()):
            return
        path = device_path(self.path, address)
        props: dict[str, Variant] = {
            "UUIDs": Variant("as", uuids),
            "RSSI": Variant("n", self._rssi),
            "ManufacturerData": Variant(
                "a{qv}",
                {k: Variant("ay", v) for ad in ads for k, v in ad.manufacturer_data.items()},
            ),
            "ServiceData": Variant(
                "a{sv}", {k: Variant("ay", v) for ad in ads for k, v in ad.service_data.items()}
            ),
            "AdvertisingFlags": Variant("ay", b"\x06"),
        }
        tx = next((ad.tx_power for ad in ads if ad.tx_power is not None), None)
        if tx is not None:
            props["TxPower"] = Variant("n", tx)
        if name:
            props["Name"] = Variant("s", scan_response_name(name))
            props["Alias"] = Variant("s", scan_response_name(name))
        if path in self.devices:
            self.server.update(path, DEVICE, props)
            return
        self.devices[path] = DeviceState(path, address)
        base: dict[str, Variant] = {
            "Address": Variant("s", address),
            "AddressType": Variant("s", "public"),
            "Alias": Variant("s", address.replace(":", "-")),
            "Paired": Variant("b", False),
            "Bonded": Variant("b", False),
            "Trusted": Variant("b", False),
            "Blocked": Variant("b", False),
            "LegacyPairing": Variant("b", False),
            "Connected": Variant("b", False),
            "ServicesResolved": Variant("b", False),
            "Adapter": Variant("o", self.path),
        }
        device = Interface(
            props=base | props,
            methods={
                "Connect": Method("", "", self._connect),
                "Disconnect": Method("", "", self._disconnect),
                "Pair": Method("", "", self._pair),
                "CancelPairing": Method("", "", self._cancel_pairing),
            },
        )
        device.setters["Trusted"] = self._bool_setter("Trusted")
        device.setters["Blocked"] = self._bool_setter("Blocked")
        device.setters["Alias"] = self._alias_setter
        self.server.add(path, {DEVICE: device})

    def _bool_setter(self, name: str) -> Any:
        async def setter(msg: Message, value: Variant) -> None:
            if value.signature != "b":
                raise DBusReplyError(f"{ERR}.InvalidArguments", "Invalid arguments in method call")
            self.server.update(str(msg.path), DEVICE, {name: value})

        return setter

    async def _alias_setter(self, msg: Message, value: Variant) -> None:
        if value.signature != "s":
            raise DBusReplyError(f"{ERR}.InvalidArguments", "Invalid arguments in method call")
        self.server.update(str(msg.path), DEVICE, {"Alias": value})

    async def _remove_device(self, msg: Message) -> list[Any]:
        state = self.devices.get(msg.body[0])
        if state is None:
            raise DBusReplyError(f"{ERR}.DoesNotExist", "Does Not Exist")
        if state.link is not None:
            await self._close(state)
        del self.devices[state.path]
        self.server.remove_tree(state.path)
        return []

    # --- connections -------------------------------------------------------------------

    def _state(self, msg: Message) -> DeviceState:
        state = self.devices.get(str(msg.path))
        if state is None:
            raise DBusReplyError("org.freedesktop.DBus.Error.UnknownObject", "Unknown object")
        return state

    async def _connect(self, msg: Message) -> list[Any]:
        state = self._state(msg)
        if state.link is not None:
            return []  # device.c dev_connect: already connected over LE is a success
        await self._open(state)
        return []

    async def _open(self, state: DeviceState) -> None:
        if state.connecting:
            raise DBusReplyError(f"{ERR}.InProgress", "In Progress")
        if self.faults.refuse_next_connect:
            self.faults.refuse_next_connect = False
            raise DBusReplyError(f"{ERR}.Failed", "le-connection-refused")
        if not any(ad.ad_type == "peripheral" for ad in self.peripheral.advertisements):
            # Nothing connectable is on the air: the LE Create Connection times out.
            raise DBusReplyError(f"{ERR}.Failed", "le-connection-timeout")
        bonded = state.paired and self.peripheral.pairing.bonded(self.address)
        peer = self.peripheral.pairing.connected(self.address)
        link = GattLink(
            self.server,
            self.peripheral.server,
            state.path,
            peer,
            list(self.peripheral.applications),
            self.counters,
            self.faults,
            Security.FIPS if bonded else Security.LOW,
            self._on_drop,
        )
        state.link = link
        self.server.update(state.path, DEVICE, {"Connected": Variant("b", True)})
        link.export()
        self.server.update(state.path, DEVICE, {"ServicesResolved": Variant("b", True)})
        logger.info("connected %s at MTU %d", state.path, link.mtu)

    def _on_drop(self, link: GattLink) -> None:
        state = self.devices.get(link.device_path)
        if state is None or state.link is not link:
            return
        task = asyncio.get_running_loop().create_task(self._close(state))
        state.pending.add(task)
        task.add_done_callback(state.pending.discard)

    async def _close(self, state: DeviceState) -> None:
        link, state.link = state.link, None
        if link is None:
            return
        link.alive = False
        self.server.update(state.path, DEVICE, {"ServicesResolved": Variant("b", False)})
        link.unexport()
        self.server.update(state.path, DEVICE, {"Connected": Variant("b", False)})
        self.peripheral.pairing.disconnected(self.address)
        await link.notify.release()
        logger.info("disconnected %s", state.path)

    async def _disconnect(self, msg: Message) -> list[Any]:
        state = self._state(msg)
        await self._close(state)
        return []

    async def _pair(self, msg: Message) -> list[Any]:
        state = self._state(msg)
        if state.paired:
            raise DBusReplyError(f"{ERR}.AlreadyExists", "Already Exists")
        if state.link is None:
            await self._open(state)  # Pair on an LE device connects first
        # The gateway's BlueZ decides: Pairable, and its agent approves (testbed.bluez.bonding).
        await self.peripheral.pairing.authorize(self.address)
        state.paired = True
        if state.link is not None:
            state.link.security = Security.FIPS
        self.server.update(
            state.path, DEVICE, {"Paired": Variant("b", True), "Bonded": Variant("b", True)}
        )
        return []

    async def _cancel_pairing(self, msg: Message) -> list[Any]:
        self._state(msg)
        raise DBusReplyError(f"{ERR}.DoesNotExist", "Does Not Exist")

    # --- events ------------------------------------------------------------------------

    async def forget_sender(self, sender: str) -> None:
        """A client left the bus: end its discovery session and notify sessions."""
        self.filters.pop(sender, None)
        if sender in self.sessions:
            self._end_session(sender)
        for state in self.devices.values():
            if state.link is not None:
                await state.link.notify.forget_sender(sender)

    def on_app_value(self, sender: str, path: str, value: bytes) -> None:
        """Forward an application's Value change to every live link."""
        for state in self.devices.values():
            if state.link is not None:
                state.link.notify.on_app_value(sender, path, value)

    def shutdown(self) -> None:
        """Stop the advertising reports (the fake is going away)."""
        if self._reporter is not None:
            self._reporter.cancel()
            self._reporter = None
