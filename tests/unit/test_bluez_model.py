"""Parsing an application's GATT tree and advertisement the way BlueZ does."""

from __future__ import annotations

from typing import Any

import pytest

from endorse_ble.testbed.bluez.adverts import (
    AdvertError,
    ad_length,
    normalize_uuid,
    parse_advertisement,
    scan_response_name,
)
from endorse_ble.testbed.bluez.gatt_model import CCCD_UUID, GattTreeError, parse_application

SERVICE = "/org/bluez/App/service0001"
SVC_UUID = "6E9A0001-4B8C-4D1E-9A3F-2B7C5D8E0F11"


def _tree(char_flags: list[str], char_service: str = SERVICE) -> dict[str, Any]:
    return {
        "/": {"org.bluez": {}},
        SERVICE: {"org.bluez.GattService1": {"UUID": SVC_UUID, "Primary": True}},
        f"{SERVICE}/char0001": {
            "org.bluez.GattCharacteristic1": {
                "UUID": "6e9a0002-4b8c-4d1e-9a3f-2b7c5d8e0f11",
                "Service": char_service,
                "Flags": char_flags,
            }
        },
        f"{SERVICE}/char0002": {
            "org.bluez.GattCharacteristic1": {
                "UUID": "6e9a0003-4b8c-4d1e-9a3f-2b7c5d8e0f11",
                "Service": SERVICE,
                "Flags": ["read"],
            }
        },
    }


def test_handles_and_cccd() -> None:
    """Handles follow BlueZ's layout; a notify characteristic gets a CCCD."""
    (service,) = parse_application(_tree(["read", "notify"]))
    assert service.uuid == SVC_UUID.lower() and service.handle == 0x0A
    first, second = service.characteristics
    assert (first.handle, [d.uuid for d in first.descriptors]) == (0x0B, [CCCD_UUID])
    assert first.descriptors[0].handle == 0x0D and first.descriptors[0].app_path is None
    assert second.handle == 0x0E and second.descriptors == []


@pytest.mark.parametrize(
    ("flags", "service"),
    [(["read", "levitate"], SERVICE), (["read"], "/org/bluez/App/service0009")],
)
def test_invalid_tree_refused(flags: list[str], service: str) -> None:
    """Unknown flags or a characteristic outside any service are refused."""
    with pytest.raises(GattTreeError):
        parse_application(_tree(flags, service))


def _ad(**props: Any) -> dict[str, Any]:
    return {"Type": "peripheral", "ServiceUUIDs": [SVC_UUID], "LocalName": "Endorse"} | props


def test_bless_style_advertisement() -> None:
    """bless's advertisement: one 128-bit UUID, a name for the scan response."""
    ad = parse_advertisement(":1.1", "/adv", _ad())
    assert ad.service_uuids == (SVC_UUID.lower(),)
    assert ad_length(ad) == 3 + 18
    assert ad.tx_power is None


@pytest.mark.parametrize(
    "props",
    [
        {"Type": "loud"},
        {"ManufacturerData": {0xFFFF: b"x" * 9}},  # 21 + 13 > 31
        {"ServiceUUIDs": ["not-a-uuid"]},
    ],
)
def test_advertisement_refused(props: dict[str, Any]) -> None:
    """Bad types, malformed UUIDs and data over 31 bytes are refused."""
    with pytest.raises(AdvertError):
        parse_advertisement(":1.1", "/adv", _ad(**props))


def test_uuid_and_name_forms() -> None:
    """16-bit UUIDs expand on the Bluetooth base; long names are cut for the scan response."""
    assert normalize_uuid("180F") == "0000180f-0000-1000-8000-00805f9b34fb"
    assert scan_response_name("x" * 40) == "x" * 29
