"""Read the token from a gateway over BLE: the only laptop module that imports bleak.

Follows docs/protocol.md: read Info, read the pages, check length and hash, retry a torn
read a bounded number of times; for a fresh token, write a nonce to Challenge and wait
for Info to say the answer is served. Runs on any platform bleak supports: the BlueZ-only
adapter option is applied only on Linux, and addresses are whatever bleak reports (macOS
gives UUIDs, not MAC addresses).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from bleak_retry_connector import BleakNotFoundError, establish_connection

from endorse_ble.central.errors import BleReadError, ReadFailure
from endorse_ble.tokenlink import profile
from endorse_ble.tokenlink.nonce import challenge_nonce
from endorse_ble.tokenlink.redact import describe_secret

__all__ = [
    "BleReadError",
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


@dataclass(frozen=True)
class ReaderOptions:
    """How to find and talk to the gateway."""

    name: str | None = None
    address: str | None = None
    adapter: str | None = None
    scan_timeout: float = 10.0
    connect_attempts: int = 3
    challenge_timeout: float = 30.0
    max_torn_retries: int = 3
    pair: bool = False


@dataclass(frozen=True)
class GatewayAdvert:
    """A gateway seen while scanning."""

    name: str | None
    address: str
    rssi: int


@dataclass(frozen=True)
class TokenRead:
    """A token read from the gateway, with how it was obtained."""

    token: str
    info: profile.InfoRecord
    nonce: str | None


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


class GatewaySession:
    """A connected gateway. Use :func:`connect` to get one."""

    def __init__(self, client: BleakClient, options: ReaderOptions) -> None:
        self._client = client
        self._options = options
        self._info_event = asyncio.Event()
        self._subscribed = False

    async def _read(self, uuid: str) -> bytes:
        try:
            return bytes(await self._client.read_gatt_char(uuid))
        except (TimeoutError, BleakError, EOFError) as exc:
            raise _translate(exc) from exc

    async def read_info(self) -> profile.InfoRecord:
        """Read and decode the 20-byte info record."""
        try:
            return profile.InfoRecord.decode(await self._read(profile.INFO_UUID))
        except profile.ProfileError as exc:
            raise BleReadError(ReadFailure.PROFILE, str(exc)) from exc

    async def read_status(self) -> dict[str, Any]:
        """Read the gateway's status record (never contains the token)."""
        try:
            return profile.decode_status(await self._read(profile.STATUS_UUID))
        except profile.ProfileError as exc:
            raise BleReadError(ReadFailure.PROFILE, str(exc)) from exc

    async def _read_pages(self, info: profile.InfoRecord) -> str:
        pages = [await self._read(profile.page_uuid(i)) for i in range(info.page_count)]
        return profile.assemble(info, pages)

    async def read_served(
        self, info: profile.InfoRecord | None = None, nonce: str | None = None
    ) -> TokenRead:
        """Read the token being served, re-reading Info after a torn read (bounded)."""
        info = info or await self.read_info()
        for attempt in range(self._options.max_torn_retries + 1):
            if info.token_state is not profile.TokenState.READY:
                raise await self._no_token(info)
            try:
                token = await self._read_pages(info)
            except profile.TornReadError as exc:
                log.info("the token changed while being read (attempt %d): %s", attempt + 1, exc)
                info = await self.read_info()
                continue
            except profile.ProfileError as exc:
                raise BleReadError(ReadFailure.PROFILE, str(exc)) from exc
            log.info("read the token: %s in %d pages", describe_secret(token), info.page_count)
            return TokenRead(token, info, nonce)
        raise BleReadError(
            ReadFailure.TORN,
            f"the token kept changing while being read ({self._options.max_torn_retries + 1} "
            "attempts); try again",
        )

    async def _no_token(self, info: profile.InfoRecord) -> BleReadError:
        status = await self.read_status()
        reason = status.get("error") or info.token_state.name.lower()
        return BleReadError(ReadFailure.NO_TOKEN, f"the gateway has no token to serve: {reason}")

    async def read_token(self, *, fresh: bool = False) -> TokenRead:
        """The gateway's token; with ``fresh``, a new one bound to a nonce of ours."""
        if fresh:
            return await self.challenge(challenge_nonce(None))
        info = await self.read_info()
        if info.token_state is profile.TokenState.READY and info.expires_at > time.time():
            return await self.read_served(info)
        # An on-demand gateway fetches when asked: an empty challenge is that request.
        return await self.challenge(None)

    async def challenge(self, nonce: str | None) -> TokenRead:
        """Write ``nonce`` (None: just ask for a token) and wait for the answer to be served."""
        await self._subscribe_info()
        self._info_event.clear()
        try:
            await self._client.write_gatt_char(
                profile.CHALLENGE_UUID, (nonce or "").encode(), response=True
            )
        except (TimeoutError, BleakError, EOFError) as exc:
            raise _translate(exc) from exc
        tag = profile.nonce_tag(nonce)
        deadline = time.monotonic() + self._options.challenge_timeout
        while True:
            info = await self.read_info()
            done = self._answered(info, nonce, tag)
            if done:
                result = await self.read_served(info, nonce)
                if nonce is None or profile.nonce_tag(nonce) == result.info.nonce_tag:
                    return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BleReadError(
                    ReadFailure.TIMEOUT,
                    f"the gateway did not serve a fresh token within "
                    f"{self._options.challenge_timeout:g} s",
                )
            # Woken by an Info notification; the timeout is only a fallback for centrals
            # whose stack cannot subscribe.
            self._info_event.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._info_event.wait(), min(remaining, 0.25))

    def _answered(self, info: profile.InfoRecord, nonce: str | None, tag: int) -> bool:
        if nonce is None:
            if info.token_state is profile.TokenState.FAILED:
                raise BleReadError(ReadFailure.CHALLENGE_FAILED, "the gateway could not fetch")
            return info.token_state is profile.TokenState.READY
        if info.challenge_state is profile.ChallengeState.FAILED:
            raise BleReadError(
                ReadFailure.CHALLENGE_FAILED, "the gateway could not fetch a fresh token"
            )
        return (
            info.challenge_state is profile.ChallengeState.READY
            and info.nonce_tag == tag
            and info.token_state is profile.TokenState.READY
        )

    async def _subscribe_info(self) -> None:
        if self._subscribed:
            return
        try:
            await self._client.start_notify(profile.INFO_UUID, self._on_info)
            self._subscribed = True
        except (TimeoutError, BleakError, EOFError) as exc:
            log.info("Info notifications unavailable, polling instead: %s", exc)

    def _on_info(self, _sender: Any, _data: bytearray) -> None:
        self._info_event.set()


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
            await client.pair()
        yield GatewaySession(client, options)
    finally:
        try:
            await client.disconnect()
        except (TimeoutError, BleakError, EOFError) as exc:
            log.debug("disconnect failed: %s", exc)
