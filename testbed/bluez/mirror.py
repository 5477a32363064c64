"""The peripheral's GATT database as the central's BlueZ exports it (gatt-client.c).

Objects live under the device: ``<device>/serviceXXXX``, ``.../charYYYY``, ``.../descZZZZ``
with handles in four hex digits (bleak derives the device path by cutting exactly
``/serviceXXXX/charYYYY`` off a characteristic path). This module builds those objects'
interfaces and holds the per-characteristic state a link keeps.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from dbus_fast import Message, Variant

from endorse_ble.testbed.bluez import att
from endorse_ble.testbed.bluez.fd_channel import FdChannel
from endorse_ble.testbed.bluez.gatt_model import CharacteristicDef, DescriptorDef, ServiceDef
from endorse_ble.testbed.bluez.objects import DBusReplyError, FdReply, Interface, Method
from endorse_ble.testbed.bluez.peripheral_side import Application

ERR = "org.bluez.Error"
_INVALID = "Invalid arguments in method call"

Handler = Callable[[Message], Awaitable[list[Any]]]
FdHandler = Callable[[Message], Awaitable[FdReply]]


@dataclass
class MirroredChar:
    """A remote characteristic and the sessions the central holds on it."""

    app: Application
    char: CharacteristicDef
    subscribers: set[str] = field(default_factory=set)
    write_channel: FdChannel | None = None
    notify_channel: FdChannel | None = None
    read_in_flight: tuple[int, asyncio.Task[bytes]] | None = None
    writing: bool = False
    #: Values waiting to be indicated: the server sends the next one only after the
    #: client confirmed the previous (Core Vol 3 Part F 3.4.7.2).
    indications: deque[bytes] = field(default_factory=deque)
    awaiting_confirmation: bool = False

    @property
    def notify_enabled(self) -> bool:
        """Whether the CCCD is on (a StartNotify session or an acquired notify socket)."""
        return bool(self.subscribers) or self.notify_channel is not None


@dataclass(frozen=True)
class CharHandlers:
    """The coroutines serving a mirrored characteristic's methods."""

    read: Handler
    write: Handler
    start_notify: Handler
    stop_notify: Handler
    acquire_write: FdHandler
    acquire_notify: FdHandler


def raise_reply(reply: att.DBusErrorReply) -> None:
    """Raise a BlueZ error reply as the exception the object server sends back."""
    raise DBusReplyError(reply.name, reply.message)


def parse_options(options: Any, with_type: bool) -> tuple[int, str | None]:
    """gatt-client.c ``parse_options``: offset must be a q, type an s; others ignored."""
    if not isinstance(options, dict):
        raise DBusReplyError(f"{ERR}.InvalidArguments", _INVALID)
    offset, write_type = 0, None
    for key, value in options.items():
        if key.lower() == "offset":
            if not isinstance(value, Variant) or value.signature != "q":
                raise DBusReplyError(f"{ERR}.InvalidArguments", _INVALID)
            offset = int(value.value)
        elif with_type and key.lower() == "type":
            if not isinstance(value, Variant) or value.signature != "s":
                raise DBusReplyError(f"{ERR}.InvalidArguments", _INVALID)
            write_type = str(value.value).lower()
    return offset, write_type


def service_interface(service: ServiceDef, device_path: str) -> Interface:
    """org.bluez.GattService1 of a remote service."""
    return Interface(
        props={
            "UUID": Variant("s", service.uuid),
            "Device": Variant("o", device_path),
            "Primary": Variant("b", service.primary),
            "Includes": Variant("ao", []),
            "Handle": Variant("q", service.handle),
        }
    )


def characteristic_interface(
    char: CharacteristicDef, service_path: str, mtu: int, handlers: CharHandlers
) -> Interface:
    """org.bluez.GattCharacteristic1 of a remote characteristic (with the MTU property)."""
    props = {
        "UUID": Variant("s", char.uuid),
        "Service": Variant("o", service_path),
        "Value": Variant("ay", b""),
        "Flags": Variant("as", list(char.flags)),
        "Handle": Variant("q", char.handle + 1),
        "MTU": Variant("q", mtu),
    }
    if char.can_notify:
        props["Notifying"] = Variant("b", False)
        props["NotifyAcquired"] = Variant("b", False)
    if "write-without-response" in char.flags:
        props["WriteAcquired"] = Variant("b", False)
    return Interface(
        props=props,
        methods={
            "ReadValue": Method("a{sv}", "ay", handlers.read),
            "WriteValue": Method("aya{sv}", "", handlers.write),
            "StartNotify": Method("", "", handlers.start_notify),
            "StopNotify": Method("", "", handlers.stop_notify),
            "AcquireWrite": Method("a{sv}", "hq", handlers.acquire_write),
            "AcquireNotify": Method("a{sv}", "hq", handlers.acquire_notify),
        },
    )


def descriptor_interface(
    desc: DescriptorDef, char_path: str, read: Handler, write: Handler
) -> Interface:
    """org.bluez.GattDescriptor1 of a remote descriptor."""
    return Interface(
        props={
            "UUID": Variant("s", desc.uuid),
            "Characteristic": Variant("o", char_path),
            "Value": Variant("ay", b""),
            "Handle": Variant("q", desc.handle),
        },
        methods={
            "ReadValue": Method("a{sv}", "ay", read),
            "WriteValue": Method("aya{sv}", "", write),
        },
    )
