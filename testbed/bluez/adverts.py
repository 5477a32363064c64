"""LE advertisements as BlueZ's advertising.c reads them, and what a scanner then sees.

Pure. The legacy advertising PDU carries at most 31 bytes of AD structures (Core spec
Vol 6 Part B 2.3.1.1, Supplement Part A); BlueZ refuses an advertisement that does not fit
("Failed to parse advertisement."). The local name goes to the scan response, shortened
to what fits there.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any

LEGACY_AD_MAX = 31
_FLAGS_LEN = 3  # length, type, flags byte
_BASE_UUID_SUFFIX = "-0000-1000-8000-00805f9b34fb"


class AdvertError(ValueError):
    """BlueZ would refuse this advertisement."""


@dataclass(frozen=True)
class Advertisement:
    """One registered advertisement: who owns it and what it puts on the air."""

    sender: str
    path: str
    ad_type: str
    service_uuids: tuple[str, ...]
    local_name: str | None
    manufacturer_data: dict[int, bytes] = field(default_factory=dict)
    service_data: dict[str, bytes] = field(default_factory=dict)
    tx_power: int | None = None


def normalize_uuid(value: str) -> str:
    """A 16-, 32- or 128-bit UUID string as the lowercase 128-bit form BlueZ reports."""
    text = value.strip().lower()
    if len(text) in (4, 8):
        return f"{int(text, 16):08x}{_BASE_UUID_SUFFIX}"
    return str(uuidlib.UUID(text))


def uuid_air_size(value: str) -> int:
    """Bytes a UUID takes in AD data: 2 or 4 when it is on the Bluetooth base, else 16."""
    full = normalize_uuid(value)
    if full.endswith(_BASE_UUID_SUFFIX):
        return 2 if full.startswith("0000") else 4
    return 16


def ad_length(ad: Advertisement) -> int:
    """Bytes of AD structures in the advertising PDU (without the scan response)."""
    total = _FLAGS_LEN if ad.ad_type == "peripheral" else 0
    by_size: dict[int, int] = {}
    for u in ad.service_uuids:
        size = uuid_air_size(u)
        by_size[size] = by_size.get(size, 0) + size
    total += sum(2 + n for n in by_size.values())
    total += sum(2 + 2 + len(v) for v in ad.manufacturer_data.values())
    total += sum(2 + uuid_air_size(u) + len(v) for u, v in ad.service_data.items())
    if ad.tx_power is not None:
        total += 3
    return total


def parse_advertisement(sender: str, path: str, props: dict[str, Any]) -> Advertisement:
    """Read the unpacked LEAdvertisement1 properties; raise AdvertError like BlueZ does."""
    ad_type = props.get("Type")
    if ad_type not in ("peripheral", "broadcast"):
        raise AdvertError(f"Type must be peripheral or broadcast, not {ad_type!r}")
    try:
        uuids = tuple(normalize_uuid(u) for u in props.get("ServiceUUIDs", []))
        service_data = {
            normalize_uuid(k): bytes(v) for k, v in props.get("ServiceData", {}).items()
        }
        manufacturer = {int(k): bytes(v) for k, v in props.get("ManufacturerData", {}).items()}
    except (ValueError, TypeError) as err:
        raise AdvertError(f"malformed advertisement: {err}") from err
    includes = props.get("Includes", [])
    name = props.get("LocalName")
    ad = Advertisement(
        sender=sender,
        path=path,
        ad_type=ad_type,
        service_uuids=uuids,
        local_name=name if isinstance(name, str) and name else None,
        manufacturer_data=manufacturer,
        service_data=service_data,
        tx_power=int(props.get("TxPower", 0)) if "tx-power" in includes else None,
    )
    if ad_length(ad) > LEGACY_AD_MAX:
        raise AdvertError(f"advertising data is {ad_length(ad)} bytes, more than 31")
    return ad


def scan_response_name(name: str) -> str:
    """The name as it fits in a scan response (29 bytes of UTF-8 after the AD header)."""
    raw = name.encode()[: LEGACY_AD_MAX - 2]
    return raw.decode(errors="ignore")
