"""Run one BLE conversation with the gateway from synchronous command code.

Commands say what to do with a connected session; this module connects (through
central.ble_reader, the only BLE module), shows progress and always disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from endorse_ble.central.gateway_options import to_reader_options
from endorse_ble.central.progress import Progress
from endorse_ble.central.user_config import GatewayConfig

if TYPE_CHECKING:
    from endorse_ble.central.ble_reader import GatewayAdvert, GatewaySession

T = TypeVar("T")


def with_gateway(
    gateway: GatewayConfig,
    progress: Progress,
    action: Callable[[GatewaySession], Awaitable[T]],
    what: str,
) -> T:
    """Connect to the gateway and run ``action`` on the session, announced as ``what``."""
    from endorse_ble.central.ble_reader import connect, find_gateway

    options = to_reader_options(gateway)

    async def conversation() -> T:
        async with contextlib.AsyncExitStack() as stack:
            with progress.step("looking for the gateway...", timing="scan"):
                device = await find_gateway(options)
            with progress.step("connecting...", timing="connect"):
                session = await stack.enter_async_context(connect(options, device))
            with progress.step(what, timing="read"):
                return await action(session)

    return asyncio.run(conversation())


def scan_gateways(gateway: GatewayConfig, progress: Progress) -> list[GatewayAdvert]:
    """Gateways advertising the profile that match ``gateway`` (name/address filters)."""
    from endorse_ble.central.ble_reader import scan

    options = to_reader_options(gateway)
    with progress.step(f"scanning for {options.scan_timeout:g} s..."):
        return asyncio.run(scan(options))
