"""The daemon's watchdog means progress: a modem poll stuck past its deadline stops the
pings and STATUS names it; when the call returns, the pings resume."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import pytest

from endorse_ble.peripheral import modem_watch
from endorse_ble.peripheral.daemon import GatewayDaemon
from endorse_ble.peripheral.gatt_view import GattEvents, GattSnapshot
from endorse_ble.peripheral.ports import ModemHealth, ModemIdentity, Registration, SystemClock
from endorse_ble.peripheral.settings import (
    EndorseSettings,
    GatewayConfig,
    ModemSettings,
    RefreshSettings,
)
from endorse_ble.peripheral.step_watch import DaemonThreadExecutor
from endorse_ble.testbed.endorse_keys import EndorseSigner
from endorse_ble.testbed.inprocess_endorse import InProcessEndorse

PING_SECONDS = 0.05


@dataclass
class HangingModem:
    """Answers at once until ``hang`` is set; then health() blocks until ``release``."""

    hang: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def health(self) -> ModemHealth:
        if self.hang.is_set():
            self.release.wait(30)
        return ModemHealth(Registration.HOME, -71, "SORACOM")

    def identity(self) -> ModemIdentity:
        return ModemIdentity("356938035643809", "440103123456789", "8981100000123456789")

    def close(self) -> None:
        pass


class Lifecycle:
    """Records what the daemon tells the service manager."""

    def __init__(self) -> None:
        self.pings = 0
        self.statuses: list[str] = []
        self.changed = asyncio.Event()

    def ready(self, status: str | None = None) -> None:
        pass

    def reloading(self) -> None:
        pass

    def status(self, text: str) -> None:
        self.statuses.append(text)
        self.changed.set()

    def stopping(self) -> None:
        pass

    def watchdog(self) -> None:
        self.pings += 1
        self.changed.set()

    def watchdog_interval(self) -> float:
        return PING_SECONDS


class Gatt:
    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def publish(self, snapshot: GattSnapshot) -> None:
        pass


@dataclass
class ClosableEndorse(InProcessEndorse):
    def close(self) -> None:
        pass


@dataclass
class Parts:
    source: ClosableEndorse
    the_modem: HangingModem

    def token_source(self, config: GatewayConfig) -> ClosableEndorse:
        return self.source

    def modem(self, config: GatewayConfig) -> HangingModem:
        return self.the_modem

    def gatt(self, config: GatewayConfig, events: GattEvents) -> Gatt:
        return Gatt()


async def wait_for(lifecycle: Lifecycle, predicate: object, within: float = 10.0) -> None:
    """Until ``predicate()`` holds, re-checked whenever the daemon notifies something."""
    assert callable(predicate)
    async with asyncio.timeout(within):
        while not predicate():
            lifecycle.changed.clear()
            await lifecycle.changed.wait()


async def test_a_stuck_modem_poll_stops_the_watchdog_and_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(modem_watch, "POLL_SLACK_SECONDS", 0.1)
    asyncio.get_running_loop().set_default_executor(DaemonThreadExecutor())
    config = GatewayConfig(
        endorse=EndorseSettings(url="http://127.0.0.1:1/"),
        modem=ModemSettings(command_timeout_seconds=0.02, poll_interval_seconds=1.0),
        refresh=RefreshSettings(),
    )
    clock = SystemClock()
    modem = HangingModem()
    lifecycle = Lifecycle()
    daemon = GatewayDaemon(
        config, Parts(ClosableEndorse(EndorseSigner(), clock), modem), clock, lifecycle
    )
    stop = asyncio.Event()
    running = asyncio.ensure_future(daemon.run(stop))
    try:
        await wait_for(lifecycle, lambda: lifecycle.pings >= 3)
        modem.hang.set()  # the next poll never returns until released
        await wait_for(
            lifecycle, lambda: any(s.startswith("STUCK: modem poll") for s in lifecycle.statuses)
        )
        stalled, seen = lifecycle.pings, len(lifecycle.statuses)
        # While stuck the daemon repeats STATUS every interval instead of pinging.
        await wait_for(lifecycle, lambda: len(lifecycle.statuses) >= seen + 5)
        assert lifecycle.pings == stalled
        modem.release.set()
        await wait_for(lifecycle, lambda: lifecycle.pings > stalled)
        assert not daemon.status_line().startswith("STUCK")
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
