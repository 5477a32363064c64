"""The pairing window at work: opens it through BlueZ, closes it on time, answers ``pair``.

Decisions are the pure :class:`~endorse_ble.peripheral.pairing_window.PairingWindow`'s;
timing is the injectable :class:`~endorse_ble.peripheral.ports.Clock`'s; the BlueZ calls
are a :class:`PairingAdapter`'s (real: peripheral.bluez_pairing.BluezPairing). Requests
are served one at a time, and the window closes by itself at its end whatever the
control socket or the operator does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from endorse_ble.peripheral.control_protocol import (
    BondedDevice,
    CloseWindowRequest,
    ListBondsRequest,
    OpenWindowRequest,
    RemoveBondRequest,
    Reply,
    Request,
)
from endorse_ble.peripheral.errors import PeripheralError
from endorse_ble.peripheral.pairing_window import PairingWindow
from endorse_ble.peripheral.ports import Clock

log = logging.getLogger(__name__)


class PairingAdapter(Protocol):
    """BlueZ's side of pairing (real: peripheral.bluez_pairing.BluezPairing)."""

    async def open(self, seconds: int) -> None: ...

    async def close(self) -> None: ...

    async def bonds(self) -> list[BondedDevice]: ...

    async def remove(self, address: str) -> bool: ...

    async def stop(self) -> None: ...


class AgentPolicy(Protocol):
    def may_pair(self) -> bool: ...


class PairingService:
    """The daemon's pairing window and bonds; ``on_change`` is told when the window opens
    or closes (the daemon sends STATUS then)."""

    def __init__(
        self,
        make_adapter: Callable[[AgentPolicy], PairingAdapter],
        clock: Clock,
        on_change: Callable[[], None],
    ) -> None:
        self._window = PairingWindow()
        self._adapter = make_adapter(self)
        self._clock = clock
        self._on_change = on_change
        self._lock = asyncio.Lock()
        self._closer: asyncio.Task[None] | None = None

    def may_pair(self) -> bool:
        """Asked by the agent when BlueZ asks it: only inside an open window."""
        return self._window.may_pair(self._clock.monotonic())

    def describe(self) -> str | None:
        """``pairing open until 10:12:03 UTC`` while a window is open, else None."""
        window = self._window.current(self._clock.monotonic())
        return None if window is None else window.describe()

    async def handle(self, request: Request) -> Reply:
        """Serve one control request."""
        async with self._lock:
            try:
                return await self._serve(request)
            except PeripheralError as exc:
                return Reply(False, str(exc))

    async def _serve(self, request: Request) -> Reply:
        match request:
            case OpenWindowRequest(seconds):
                return await self._open(seconds)
            case CloseWindowRequest():
                was_open = self._window.current(self._clock.monotonic()) is not None
                await self._close("closed on request")
                return Reply(True, "pairing window closed" if was_open else "no window was open")
            case ListBondsRequest():
                devices = await self._adapter.bonds()
                return Reply(True, f"{len(devices)} bonded device(s)", tuple(devices))
            case RemoveBondRequest(address):
                if await self._adapter.remove(address):
                    log.info("bond with %s removed", address)
                    return Reply(True, f"removed the bond with {address}")
                return Reply(False, f"no bonded device {address}")

    async def _open(self, seconds: int) -> Reply:
        window = self._window.open(seconds, self._clock.monotonic(), self._clock.wall())
        try:
            await self._adapter.open(seconds)
        except PeripheralError:
            # Never leave half a window: whatever BlueZ took is undone.
            with contextlib.suppress(PeripheralError):
                await self._close("could not be opened")
            raise
        self._cancel_closer()
        self._closer = asyncio.get_running_loop().create_task(self._close_at_end())
        log.warning("pairing window open for %d s: %s", seconds, window.describe())
        self._on_change()
        return Reply(True, f"{window.describe()} ({seconds} s)")

    async def _close_at_end(self) -> None:
        while True:
            window = self._window.current(self._clock.monotonic())
            if window is None:
                break
            await self._clock.sleep(window.remaining(self._clock.monotonic()))
        async with self._lock:
            if self._window.due(self._clock.monotonic()):
                self._closer = None  # this task: not to be cancelled by the close below
                try:
                    await self._close("closed by itself")
                except PeripheralError as exc:
                    log.error("closing the pairing window: %s", exc)

    async def _close(self, why: str) -> None:
        self._cancel_closer()
        was = self._window.close()
        try:
            await self._adapter.close()
        finally:
            if was is not None:
                log.warning("pairing window %s", why)
                self._on_change()

    def _cancel_closer(self) -> None:
        if self._closer is not None:
            self._closer.cancel()
            self._closer = None

    async def replace_adapter(self, make_adapter: Callable[[AgentPolicy], PairingAdapter]) -> None:
        """A reloaded configuration: close an open window (its agent is the old one), leave
        the bus, and use a new adapter for the next window."""
        async with self._lock:
            await self._leave("the configuration was reloaded")
            self._adapter = make_adapter(self)

    async def start(self) -> None:
        """Close whatever window a previous run or another program left open."""
        async with self._lock:
            try:
                await self._adapter.close()
            except PeripheralError as exc:
                log.warning("could not close the adapter's pairing at start: %s", exc)

    async def stop(self) -> None:
        """Close an open window and leave the bus."""
        async with self._lock:
            await self._leave("the daemon is stopping")

    async def _leave(self, why: str) -> None:
        """Close an open window, then leave the bus whatever happened (under the lock)."""
        try:
            if self._window.current(self._clock.monotonic()) is not None:
                await self._close(f"closed: {why}")
        except PeripheralError as exc:
            log.warning("closing the pairing window (%s): %s", why, exc)
        finally:
            self._cancel_closer()
            await self._adapter.stop()
