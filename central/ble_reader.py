"""bleak as a thin adapter for the token profile: the only laptop module that imports bleak.

Scanning, connecting (with retries), pairing and the :class:`BleakLink` that carries the
profile's reads, writes and notifications; the profile itself (torn reads, challenges,
busy and budget answers) is central.profile_client, pure code. Runs on any platform bleak
supports: the BlueZ-only adapter option is applied only on Linux, and addresses are
whatever bleak reports (macOS gives UUIDs, not MAC addresses).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError, BleakGATTProtocolError
from bleak_retry_connector import BleakNotFoundError, establish_connection

from endorse_ble.central.errors import BleReadError, ReadFailure
from endorse_ble.central.profile_client import (
    AttError,
    ProfileClient,
    ReaderOptions,
    TokenRead,
)
from endorse_ble.tokenlink import profile

__all__ = [
    "BleReadError",
    "BleakLink",
    "GatewayAdvert",
    "GatewaySession",
    "ReadFailure",
    "ReaderOptions",
    "TokenRead",
    "connect",
    "find_gateway",
    "scan",
]

log = logging.getLogger(__name__)

#: A connected gateway, as the commands use it.
GatewaySession = ProfileClient


@dataclass(frozen=True)
class GatewayAdvert:
    """A gateway seen while scanning."""

    name: str | None
    address: str
    rssi: int


def _platform_args(options: ReaderOptions) -> dict[str, Any]:
    # The adapter name is a BlueZ notion; other platforms have one adapter.
    if options.adapter and sys.platform == "linux":
        return {"bluez": {"adapter": options.adapter}}
    return {}


def _matches(options: ReaderOptions, device: BLEDevice, adv: AdvertisementData) -> bool:
    if profile.SERVICE_UUID not in (u.lower() for u in adv.service_uuids):
        return False
    if options.address and device.address.lower() != options.address.lower():
        return False
    name = adv.local_name or device.name
    return not (options.name and name != options.name)


def _unavailable(exc: BaseException) -> BleReadError:
    # Scanning fails before any gateway is involved: Bluetooth off, no adapter, or (Linux)
    # no system D-Bus / bluetoothd (bleak raises BleakError, dbus-fast an OSError).
    return BleReadError(ReadFailure.BLUETOOTH_UNAVAILABLE, str(exc) or type(exc).__name__)


async def scan(options: ReaderOptions) -> list[GatewayAdvert]:
    """Gateways advertising the profile within ``options.scan_timeout`` seconds."""
    try:
        found = await BleakScanner.discover(
            timeout=options.scan_timeout,
            return_adv=True,
            service_uuids=[profile.SERVICE_UUID],
            **_platform_args(options),
        )
    except (BleakError, OSError) as exc:
        raise _unavailable(exc) from exc
    return sorted(
        (
            GatewayAdvert(adv.local_name or dev.name, dev.address, adv.rssi)
            for dev, adv in found.values()
            if _matches(options, dev, adv)
        ),
        key=lambda g: -g.rssi,
    )


async def find_gateway(options: ReaderOptions) -> BLEDevice:
    """The first gateway matching ``options``; BleReadError NOT_FOUND if none shows up."""
    try:
        device = await BleakScanner.find_device_by_filter(
            lambda d, a: _matches(options, d, a),
            timeout=options.scan_timeout,
            service_uuids=[profile.SERVICE_UUID],
            **_platform_args(options),
        )
    except (BleakError, OSError) as exc:
        raise _unavailable(exc) from exc
    if device is None:
        wanted = options.name or options.address or "any"
        raise BleReadError(
            ReadFailure.NOT_FOUND,
            f"no gateway ({wanted}) found within {options.scan_timeout:g} s: is it powered, "
            "in range, and is endorse-peripheral running?",
        )
    return device


def _translate(exc: BleakError | EOFError | asyncio.TimeoutError) -> BleReadError:
    text = str(exc)
    if "NotAuthorized" in text or "nsufficient" in text or "NotPermitted" in text:
        return BleReadError(
            ReadFailure.PAIRING_NEEDED,
            "the gateway requires an encrypted link: pair with it first (e.g. --pair)",
        )
    return BleReadError(ReadFailure.LINK_LOST, f"BLE link failed: {text or type(exc).__name__}")


_ATT_CODE = (
    re.compile(r"ATT error: 0x([0-9a-fA-F]{2})"),  # BlueZ
    re.compile(r"rotocol [Ee]rror 0x([0-9a-fA-F]{2})"),  # WinRT
    re.compile(r"CBATTErrorDomain Code=([0-9]{1,3})"),  # CoreBluetooth (decimal)
)


def _att_code(text: str) -> int | None:
    for number, pattern in enumerate(_ATT_CODE):
        match = pattern.search(text)
        if match:
            return int(match.group(1), 10 if number == 2 else 16)
    return None


def _link_error(exc: BleakError | EOFError | asyncio.TimeoutError) -> Exception:
    text = str(exc)
    code = exc.code if isinstance(exc, BleakGATTProtocolError) else _att_code(text)
    if code is not None and code >= 0x80:
        return AttError(code, text)
    return _translate(exc)


class BleakLink:
    """The profile's :class:`~endorse_ble.central.profile_client.GattLink` over bleak."""

    def __init__(self, client: BleakClient) -> None:
        self._client = client

    async def read(self, uuid: str) -> bytes:
        try:
            return bytes(await self._client.read_gatt_char(uuid))
        except (TimeoutError, BleakError, EOFError) as exc:
            raise _link_error(exc) from exc

    async def write(self, uuid: str, data: bytes) -> None:
        try:
            await self._client.write_gatt_char(uuid, data, response=True)
        except (TimeoutError, BleakError, EOFError) as exc:
            raise _link_error(exc) from exc

    async def subscribe(self, uuid: str, callback: Callable[[bytes], None]) -> bool:
        def forward(_sender: Any, data: bytearray) -> None:
            callback(bytes(data))

        try:
            await self._client.start_notify(uuid, forward)
        except (TimeoutError, BleakError, EOFError) as exc:
            log.info("notifications of %s unavailable: %s", uuid, exc)
            return False
        return True

    async def paired(self) -> bool | None:
        return await _bluez_paired(self._client)


async def _bluez_paired(client: BleakClient) -> bool | None:
    """BlueZ's Device1.Paired for the client's device; None elsewhere or if unknown.

    bleak has no public accessor; its BlueZ manager caches the property (is_paired) from
    BlueZ's object manager. Anything unexpected means "cannot tell".
    """
    if sys.platform != "linux":
        return None
    try:
        from bleak.backends.bluezdbus.manager import get_global_bluez_manager

        path = getattr(client._backend, "_device_path", None)  # no public way to it
        if not isinstance(path, str):
            return None
        return bool((await get_global_bluez_manager()).is_paired(path))
    except Exception:  # a private detail that moved: just "unknown"
        log.debug("cannot tell whether the gateway is paired", exc_info=True)
        return None


@asynccontextmanager
async def connect(
    options: ReaderOptions, device: BLEDevice | None = None
) -> AsyncIterator[GatewaySession]:
    """Connect (with retries) to ``device`` or the gateway found now; always disconnect."""
    device = device or await find_gateway(options)
    try:
        client = await establish_connection(
            BleakClient,
            device,
            options.name or device.name or device.address,
            max_attempts=options.connect_attempts,
            **_platform_args(options),
        )
    except (TimeoutError, BleakError, BleakNotFoundError) as exc:
        raise BleReadError(
            ReadFailure.CONNECT_FAILED,
            f"could not connect to the gateway {device.address}: {exc}",
        ) from exc
    try:
        if options.pair:
            await _pair(client)
        yield ProfileClient(BleakLink(client), options)
    finally:
        try:
            await client.disconnect()
        except (TimeoutError, BleakError, EOFError) as exc:
            log.debug("disconnect failed: %s", exc)


async def _pair(client: BleakClient) -> None:
    try:
        await client.pair()
    except NotImplementedError as exc:
        # CoreBluetooth (macOS) has no pairing API: the OS pairs when a characteristic
        # needs it, or from System Settings.
        raise BleReadError(
            ReadFailure.NO_PAIRING_API, "this platform's Bluetooth cannot pair from a program"
        ) from exc
    except (TimeoutError, BleakError, EOFError) as exc:
        if "org.bluez.Error.Authentication" in str(exc):
            # AuthenticationFailed/Rejected/Canceled: the gateway's agent said no, or its
            # adapter is not pairable (no window open).
            raise BleReadError(ReadFailure.PAIRING_REFUSED, str(exc)) from exc
        raise _translate(exc) from exc
