"""The peripheral host's BlueZ (adapter hci0): what bless registers with.

Implements Adapter1 (Roles ["peripheral"], writable Alias; pairing, agents and bonds in
testbed.bluez.bonding), GattManager1 and
LEAdvertisingManager1 as in doc/org.bluez.GattManager.rst and
doc/org.bluez.LEAdvertisingManager.rst: on RegisterApplication BlueZ reads the
application's objects with GetManagedObjects on its sender; on RegisterAdvertisement it
reads the advertisement's properties. An application or advertisement whose owner leaves
the bus is dropped, as bluetoothd does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dbus_fast import Message, Variant, unpack_variants

from endorse_ble.testbed.bluez.adverts import AdvertError, Advertisement, parse_advertisement
from endorse_ble.testbed.bluez.bonding import PeripheralPairing
from endorse_ble.testbed.bluez.gatt_model import GattTreeError, ServiceDef, parse_application
from endorse_ble.testbed.bluez.objects import (
    OBJECT_MANAGER,
    PROPERTIES,
    DBusReplyError,
    Interface,
    Method,
    ObjectServer,
    call_remote,
)

logger = logging.getLogger(__name__)

ADAPTER = "org.bluez.Adapter1"
GATT_MANAGER = "org.bluez.GattManager1"
ADV_MANAGER = "org.bluez.LEAdvertisingManager1"
ADVERTISEMENT = "org.bluez.LEAdvertisement1"
MAX_ADVERTISEMENTS = 4
ERR = "org.bluez.Error"


@dataclass
class Application:
    """A registered GATT application: its owner, root path and services."""

    sender: str
    path: str
    services: list[ServiceDef]


def adapter_properties(name: str, address: str, roles: list[str]) -> dict[str, Variant]:
    """Adapter1 properties of a powered LE adapter, as bluetoothd reports them."""
    return {
        "Address": Variant("s", address),
        "AddressType": Variant("s", "public"),
        "Name": Variant("s", f"fake-{name}"),
        "Alias": Variant("s", f"fake-{name}"),
        "Class": Variant("u", 0),
        "Powered": Variant("b", True),
        "PowerState": Variant("s", "on"),
        "Discoverable": Variant("b", False),
        "DiscoverableTimeout": Variant("u", 180),
        "Pairable": Variant("b", True),
        "PairableTimeout": Variant("u", 0),
        "Discovering": Variant("b", False),
        "UUIDs": Variant("as", []),
        "Modalias": Variant("s", "usb:v1D6Bp0246d0548"),
        "Roles": Variant("as", roles),
    }


class PeripheralSide:
    """hci0 on the peripheral bus, with its registered applications and advertisements."""

    path = "/org/bluez/hci0"

    def __init__(self, server: ObjectServer, address: str, on_change: Callable[[], None]) -> None:
        self.server = server
        self.address = address
        self._on_change = on_change
        self.applications: list[Application] = []
        self.advertisements: list[Advertisement] = []
        self.pairing = PeripheralPairing(server, self.path)

    def install(self) -> None:
        """Export the adapter object."""
        adapter = Interface(props=adapter_properties("hci0", self.address, ["peripheral"]))
        adapter.setters["Alias"] = self._set_alias
        self.pairing.install(adapter)
        gatt = Interface(
            methods={
                "RegisterApplication": Method("oa{sv}", "", self._register_application),
                "UnregisterApplication": Method("o", "", self._unregister_application),
            }
        )
        adv = Interface(
            props={
                "ActiveInstances": Variant("y", 0),
                "SupportedInstances": Variant("y", MAX_ADVERTISEMENTS),
                "SupportedIncludes": Variant("as", ["tx-power", "appearance", "local-name"]),
            },
            methods={
                "RegisterAdvertisement": Method("oa{sv}", "", self._register_advertisement),
                "UnregisterAdvertisement": Method("o", "", self._unregister_advertisement),
            },
        )
        self.server.add(self.path, {ADAPTER: adapter, GATT_MANAGER: gatt, ADV_MANAGER: adv})

    async def _set_alias(self, msg: Message, value: Variant) -> None:
        if value.signature != "s":
            raise DBusReplyError(f"{ERR}.InvalidArguments", "Invalid arguments in method call")
        # bluetoothd: an empty alias restores the adapter's system name.
        alias = value.value or self.server.prop(self.path, ADAPTER, "Name")
        self.server.update(self.path, ADAPTER, {"Alias": Variant("s", alias)})

    # --- GATT applications -------------------------------------------------------------

    async def _register_application(self, msg: Message) -> list[Any]:
        sender, root = str(msg.sender), msg.body[0]
        if any(a.sender == sender and a.path == root for a in self.applications):
            raise DBusReplyError(f"{ERR}.AlreadyExists", "Already Exists")
        try:
            reply = await call_remote(
                self.server.bus, sender, root, OBJECT_MANAGER, "GetManagedObjects"
            )
            services = parse_application(unpack_variants(reply[0]))
        except DBusReplyError as err:
            logger.warning("application %s %s unreadable: %s", sender, root, err)
            raise DBusReplyError(f"{ERR}.Failed", "Failed to read application") from err
        except GattTreeError as err:
            logger.warning("application %s %s refused: %s", sender, root, err)
            raise DBusReplyError(f"{ERR}.Failed", "Failed to create entry in database") from err
        if not services:
            raise DBusReplyError(f"{ERR}.Failed", "No valid service object found")
        self.applications.append(Application(sender, root, services))
        logger.info("application %s%s registered: %d services", sender, root, len(services))
        self._on_change()
        return []

    async def _unregister_application(self, msg: Message) -> list[Any]:
        sender, root = str(msg.sender), msg.body[0]
        found = [a for a in self.applications if a.sender == sender and a.path == root]
        if not found:
            raise DBusReplyError(f"{ERR}.DoesNotExist", "Does Not Exist")
        self.applications.remove(found[0])
        self._on_change()
        return []

    # --- advertisements ----------------------------------------------------------------

    async def _register_advertisement(self, msg: Message) -> list[Any]:
        sender, path = str(msg.sender), msg.body[0]
        if any(a.sender == sender and a.path == path for a in self.advertisements):
            raise DBusReplyError(f"{ERR}.AlreadyExists", "Already Exists")
        if len(self.advertisements) >= MAX_ADVERTISEMENTS:
            raise DBusReplyError(f"{ERR}.NotPermitted", "Maximum advertisements reached")
        try:
            reply = await call_remote(
                self.server.bus, sender, path, PROPERTIES, "GetAll", "s", [ADVERTISEMENT]
            )
            advert = parse_advertisement(sender, path, unpack_variants(reply[0]))
        except (DBusReplyError, AdvertError) as err:
            logger.warning("advertisement %s %s refused: %s", sender, path, err)
            raise DBusReplyError(f"{ERR}.Failed", "Failed to parse advertisement.") from err
        self.advertisements.append(advert)
        self._publish_instances()
        return []

    async def _unregister_advertisement(self, msg: Message) -> list[Any]:
        sender, path = str(msg.sender), msg.body[0]
        found = [a for a in self.advertisements if a.sender == sender and a.path == path]
        if not found:
            raise DBusReplyError(f"{ERR}.DoesNotExist", "Does Not Exist")
        self.advertisements.remove(found[0])
        self._publish_instances()
        return []

    def _publish_instances(self) -> None:
        count = len(self.advertisements)
        self.server.update(
            self.path,
            ADV_MANAGER,
            {
                "ActiveInstances": Variant("y", count),
                "SupportedInstances": Variant("y", MAX_ADVERTISEMENTS - count),
            },
        )
        self._on_change()

    def forget_sender(self, sender: str) -> None:
        """Drop the applications, advertisements and agent of a connection that left."""
        self.pairing.forget_sender(sender)
        apps = [a for a in self.applications if a.sender != sender]
        ads = [a for a in self.advertisements if a.sender != sender]
        if len(apps) == len(self.applications) and len(ads) == len(self.advertisements):
            return
        logger.info("owner %s left: dropping its application/advertisements", sender)
        self.applications = apps
        if len(ads) != len(self.advertisements):
            self.advertisements = ads
            self._publish_instances()
        else:
            self._on_change()
