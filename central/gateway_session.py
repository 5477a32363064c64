"""Run one BLE conversation with the gateway from synchronous command code.

Commands say what to do with a connected session; this module takes this user's lock for
the gateway, connects (through central.ble_reader, the only BLE module), shows progress,
always disconnects, and holds the whole of it to one total deadline (``--gateway-timeout``):
a radio that never answers an ATT request, or another run holding the gateway, ends the
command on time with a clear message instead of hanging it and every run queued behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from endorse_ble.central.credential_cache import CredentialCache
from endorse_ble.central.errors import BleReadError, ReadFailure
from endorse_ble.central.file_lock import LockTimeout, gateway_key
from endorse_ble.central.gateway_options import DEFAULT_GATEWAY_TIMEOUT, to_reader_options
from endorse_ble.central.progress import Progress
from endorse_ble.central.user_config import GatewayConfig

if TYPE_CHECKING:
    from endorse_ble.central.ble_reader import GatewayAdvert, GatewaySession

T = TypeVar("T")


def gateway_deadline(gateway: GatewayConfig) -> float:
    """Seconds the whole session with ``gateway`` may take."""
    return gateway.gateway_timeout or DEFAULT_GATEWAY_TIMEOUT


def with_gateway(
    gateway: GatewayConfig,
    progress: Progress,
    action: Callable[[GatewaySession], Awaitable[T]],
    what: str,
    cache: CredentialCache | None = None,
) -> T:
    """Connect to the gateway and run ``action`` on the session, announced as ``what``."""
    from endorse_ble.central.ble_reader import connect, find_gateway

    options = to_reader_options(gateway)
    budget = gateway_deadline(gateway)
    deadline = time.monotonic() + budget
    lock = (cache or CredentialCache()).gateway_lock(gateway_key(gateway.name, gateway.address))

    async def conversation() -> T:
        async with contextlib.AsyncExitStack() as stack:
            with progress.step("looking for the gateway...", timing="scan"):
                device = await find_gateway(options)
            with progress.step("connecting...", timing="connect"):
                session = await stack.enter_async_context(connect(options, device))
            with progress.step(what, timing="read"):
                return await action(session)

    async def bounded() -> T:
        try:
            async with asyncio.timeout_at(
                asyncio.get_running_loop().time() + deadline - time.monotonic()
            ):
                return await conversation()
        except TimeoutError:
            raise BleReadError(
                ReadFailure.DEADLINE,
                f"the gateway session did not finish within --gateway-timeout {budget:g} s",
            ) from None

    try:
        lock.acquire(deadline)
    except LockTimeout:
        raise BleReadError(
            ReadFailure.DEADLINE,
            f"another endorse-central run held the gateway for all of --gateway-timeout "
            f"{budget:g} s",
        ) from None
    try:
        return asyncio.run(bounded())
    finally:
        lock.release()


def scan_gateways(gateway: GatewayConfig, progress: Progress) -> list[GatewayAdvert]:
    """Gateways advertising the profile that match ``gateway`` (name/address filters)."""
    from endorse_ble.central.ble_reader import scan

    options = to_reader_options(gateway)
    with progress.step(f"scanning for {options.scan_timeout:g} s..."):
        return asyncio.run(scan(options))
