"""An application's GATT tree as BlueZ reads it, and the handles BlueZ would give it.

Pure: it parses the (already unpacked) ``GetManagedObjects`` reply of an application and
lays the attributes out in a handle space like BlueZ's gatt-database.c does: one handle per
service declaration, two per characteristic (declaration and value), one per descriptor,
plus a CCCD BlueZ adds to every characteristic that can notify or indicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GATT_SERVICE = "org.bluez.GattService1"
GATT_CHARACTERISTIC = "org.bluez.GattCharacteristic1"
GATT_DESCRIPTOR = "org.bluez.GattDescriptor1"
CCCD_UUID = "00002902-0000-1000-8000-00805f9b34fb"

#: BlueZ's own GAP (0x1800) and GATT (0x1801) services take the first handles; the
#: application's services start after them.
FIRST_APP_HANDLE = 0x000A

_KNOWN_FLAGS = {
    "broadcast",
    "read",
    "write-without-response",
    "write",
    "notify",
    "indicate",
    "authenticated-signed-writes",
    "extended-properties",
    "reliable-write",
    "writable-auxiliaries",
    "encrypt-read",
    "encrypt-write",
    "encrypt-notify",
    "encrypt-indicate",
    "encrypt-authenticated-read",
    "encrypt-authenticated-write",
    "encrypt-authenticated-notify",
    "encrypt-authenticated-indicate",
    "secure-read",
    "secure-write",
    "secure-notify",
    "secure-indicate",
    "authorize",
}


class GattTreeError(ValueError):
    """The application's objects do not form a GATT tree BlueZ would accept."""


@dataclass
class DescriptorDef:
    """A descriptor: the application's object path (None for BlueZ's CCCD)."""

    app_path: str | None
    uuid: str
    flags: list[str]
    handle: int = 0


@dataclass
class CharacteristicDef:
    """A characteristic of the application."""

    app_path: str
    uuid: str
    flags: list[str]
    descriptors: list[DescriptorDef] = field(default_factory=list)
    handle: int = 0  # declaration handle; the value handle is handle + 1

    @property
    def can_notify(self) -> bool:
        """Whether BlueZ adds a CCCD (notify or indicate in any form)."""
        return any(f.endswith(("notify", "indicate")) for f in self.flags)


@dataclass
class ServiceDef:
    """A service of the application."""

    app_path: str
    uuid: str
    primary: bool
    characteristics: list[CharacteristicDef] = field(default_factory=list)
    handle: int = 0


def _uuid(props: dict[str, Any], path: str) -> str:
    value = props.get("UUID")
    if not isinstance(value, str) or not value:
        raise GattTreeError(f"{path}: missing UUID")
    return value.lower()


def _flags(props: dict[str, Any], path: str) -> list[str]:
    flags = props.get("Flags")
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise GattTreeError(f"{path}: missing Flags")
    unknown = set(flags) - _KNOWN_FLAGS
    if unknown:
        raise GattTreeError(f"{path}: unknown flags {sorted(unknown)}")
    return list(flags)


def parse_application(objects: dict[str, dict[str, dict[str, Any]]]) -> list[ServiceDef]:
    """Build the service list from an unpacked GetManagedObjects reply, in path order."""
    services: dict[str, ServiceDef] = {}
    chars: dict[str, CharacteristicDef] = {}
    for path in sorted(objects):
        props = objects[path].get(GATT_SERVICE)
        if props is not None:
            services[path] = ServiceDef(path, _uuid(props, path), bool(props.get("Primary", True)))
    for path in sorted(objects):
        props = objects[path].get(GATT_CHARACTERISTIC)
        if props is None:
            continue
        service = services.get(str(props.get("Service", "")))
        if service is None:
            raise GattTreeError(f"{path}: Service does not name a service of the application")
        char = CharacteristicDef(path, _uuid(props, path), _flags(props, path))
        service.characteristics.append(char)
        chars[path] = char
    for path in sorted(objects):
        props = objects[path].get(GATT_DESCRIPTOR)
        if props is None:
            continue
        owner = chars.get(str(props.get("Characteristic", "")))
        if owner is None:
            raise GattTreeError(f"{path}: Characteristic does not name one of the application")
        flags = props.get("Flags", [])
        owner.descriptors.append(DescriptorDef(path, _uuid(props, path), list(flags)))
    assign_handles(list(services.values()))
    return list(services.values())


def assign_handles(services: list[ServiceDef], first: int = FIRST_APP_HANDLE) -> None:
    """Give every attribute a handle, adding a CCCD where BlueZ would."""
    handle = first
    for service in services:
        service.handle = handle
        handle += 1
        for char in service.characteristics:
            char.handle = handle
            handle += 2
            if char.can_notify and not any(d.uuid == CCCD_UUID for d in char.descriptors):
                char.descriptors.insert(0, DescriptorDef(None, CCCD_UUID, ["read", "write"]))
            for desc in char.descriptors:
                desc.handle = handle
                handle += 1
    if handle > 0xFFFF:
        raise GattTreeError("the application needs more than 65535 handles")
