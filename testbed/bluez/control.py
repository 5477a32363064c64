"""Typed async client for the fake BlueZ's control interface (org.endorse.Testbed1).

async with TestbedControl(central_bus_address) as control:
    await control.set_mtu(185)
    await control.reset_counters()
    ...
    counters = await control.counters()
    assert counters["read_blob.pdus_c2p"] == 3
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from endorse_ble.testbed.bluez.errors import FakeBluezError, FakeBluezReason

CONTROL_NAME = "org.endorse.Testbed"
CONTROL_PATH = "/org/endorse/testbed"
CONTROL_INTERFACE = "org.endorse.Testbed1"


@dataclass(frozen=True)
class TestbedState:
    """A snapshot of the fake: is org.bluez up, MTU, what is registered and connected."""

    __test__ = False  # not a pytest test class

    running: bool
    mtu: int
    applications: int
    advertisements: int
    connections: int
    discovering: bool


class TestbedControl:
    """Client of ``org.endorse.Testbed1`` on the central bus (use as async context)."""

    __test__ = False

    def __init__(self, bus_address: str) -> None:
        self._address = bus_address
        self._bus: MessageBus | None = None

    async def __aenter__(self) -> TestbedControl:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the D-Bus connection."""
        self._bus = await MessageBus(bus_address=self._address).connect()

    async def close(self) -> None:
        """Close the D-Bus connection."""
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.disconnect()
            # The bus may already be gone (the testbed stopped first): nothing to close.
            with contextlib.suppress(EOFError, OSError):
                await bus.wait_for_disconnect()

    async def _call(
        self,
        member: str,
        signature: str = "",
        body: list[Any] | None = None,
    ) -> list[Any]:
        if self._bus is None:
            raise FakeBluezError(FakeBluezReason.NOT_STARTED, "control client not connected")
        reply = await self._bus.call(
            Message(
                destination=CONTROL_NAME,
                path=CONTROL_PATH,
                interface=CONTROL_INTERFACE,
                member=member,
                signature=signature,
                body=body or [],
            )
        )
        if reply is None or reply.message_type == MessageType.ERROR:
            detail = f"{reply.error_name}: {reply.body}" if reply else "no reply"
            raise FakeBluezError(FakeBluezReason.CONTROL_REFUSED, f"{member} failed: {detail}")
        return list(reply.body)

    async def counters(self) -> dict[str, int]:
        """All air counters (keys in :mod:`endorse_ble.testbed.bluez.counters`)."""
        return dict((await self._call("GetCounters"))[0])

    async def reset_counters(self) -> None:
        """Zero all counters."""
        await self._call("ResetCounters")

    async def set_mtu(self, mtu: int) -> None:
        """ATT MTU (23..517) for connections made from now on."""
        await self._call("SetMtu", "q", [mtu])

    async def state(self) -> TestbedState:
        """What the fake currently holds."""
        raw = (await self._call("GetState"))[0]
        return TestbedState(**{k: v.value for k, v in raw.items()})

    async def drop_after(self, requests: int) -> None:
        """Let ``requests`` more ATT requests through, then drop the link on the next one."""
        await self._call("DropAfter", "u", [requests])

    async def pause_after(self, reads: int) -> None:
        """Let ``reads`` more ATT reads pass, then hold the next one until :meth:`resume`."""
        await self._call("PauseAfter", "u", [reads])

    async def wait_paused(self, within: float = 10.0) -> bool:
        """Return once a read is held by :meth:`pause_after`; False if not within ``within`` s."""
        return bool((await self._call("WaitPaused", "d", [within]))[0])

    async def resume(self) -> None:
        """Release the held read."""
        await self._call("Resume")

    async def refuse_next_connect(self) -> None:
        """Make the next Device1.Connect/Pair fail with ``le-connection-refused``."""
        await self._call("RefuseNextConnect")

    async def restart(self, delay: float = 0.0) -> None:
        """bluetoothd restart: org.bluez leaves both buses and returns after ``delay`` s."""
        await self._call("Restart", "d", [delay])
