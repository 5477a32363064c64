"""The real daemon with its calls blocked: it reports the stuck part, keeps serving, and
SIGTERM ends it within 10 s whatever is blocked."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from endorse_ble.testbed.bluez.harness import FakeBluezHandle
from endorse_ble.testbed.endorse.server import EndorseFault, EndorseSimulator
from endorse_ble.testbed.gateway.process import GatewayProcess, GatewaySetup, running_gateway
from endorse_ble.testbed.gateway.pytest_fixtures import run_cli
from endorse_ble.testbed.modem.emulator import ModemEmulator, ModemFault

pytestmark = pytest.mark.integration

TOKEN = ("endorse_ble.central", "token", "--adapter", "hci1", "-q")
#: The unit's stop budget for the daemon.
STOP_SECONDS = 10.0
#: What the testbed's gateway config sets (GatewaySetup).
COMMAND_TIMEOUT = 1.0


@pytest.fixture
def silent_listener() -> Iterator[socket.socket]:
    """A TCP port that accepts connections and never says a word (a stuck TLS peer)."""
    listener = socket.create_server(("127.0.0.1", 0))
    yield listener
    listener.close()


async def sigterm_exit_seconds(gateway: GatewayProcess) -> float:
    started = time.monotonic()
    gateway.signal(signal.SIGTERM)
    await asyncio.wait_for(gateway.proc.wait(), STOP_SECONDS + 5)
    return time.monotonic() - started


async def token_requests(sim: EndorseSimulator, count: int) -> None:
    assert await asyncio.to_thread(sim.wait_for_token_requests, count)


@pytest.mark.parametrize("fault", [EndorseFault.HANG, EndorseFault.DRIBBLE_HEADERS])
async def test_sigterm_during_a_blocked_fetch(
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    modem_emulator: ModemEmulator,
    tmp_path: Path,
    fault: EndorseFault,
) -> None:
    """A fetch waiting on headers that never end does not hold up SIGTERM."""
    endorse_sim.fault = fault
    endorse_sim.dribble_pause_seconds = 0.5
    setup = GatewaySetup(
        endorse_url=endorse_sim.url,
        modem_port=modem_emulator.device_path,
        mode="on-demand",
        read_timeout=60.0,
    )
    async with running_gateway(setup, fake_bluez.peripheral_bus, tmp_path) as gateway:
        asking = asyncio.ensure_future(run_cli(fake_bluez, *TOKEN, limit=90))
        await token_requests(endorse_sim, 1)
        assert await sigterm_exit_seconds(gateway) < STOP_SECONDS
        assert gateway.proc.returncode == 0
        await asking  # the laptop's CLI gives up once the gateway is gone


async def test_sigterm_during_a_stuck_tls_handshake(
    fake_bluez: FakeBluezHandle,
    modem_emulator: ModemEmulator,
    silent_listener: socket.socket,
    tmp_path: Path,
) -> None:
    """A TLS handshake with a peer that never answers does not hold up SIGTERM."""
    port = silent_listener.getsockname()[1]
    setup = GatewaySetup(
        endorse_url=f"https://127.0.0.1:{port}/",
        modem_port=modem_emulator.device_path,
        mode="on-demand",
        read_timeout=60.0,
    )
    async with running_gateway(setup, fake_bluez.peripheral_bus, tmp_path) as gateway:
        asking = asyncio.ensure_future(run_cli(fake_bluez, *TOKEN, limit=90))
        silent_listener.settimeout(20)
        accepted, _ = await asyncio.to_thread(silent_listener.accept)
        try:
            assert await sigterm_exit_seconds(gateway) < STOP_SECONDS
        finally:
            accepted.close()
            await asking


async def test_a_modem_that_stops_reading(
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    modem_emulator: ModemEmulator,
    tmp_path: Path,
) -> None:
    """The modem stops reading: STATUS says stuck within 2 x the command timeout of the
    next poll, the token is still served and renewed, the port is reopened once the modem
    reads again, and SIGTERM meanwhile is prompt."""
    setup = GatewaySetup(
        endorse_url=endorse_sim.url, modem_port=modem_emulator.device_path, modem_poll_interval=1.0
    )
    async with running_gateway(setup, fake_bluez.peripheral_bus, tmp_path) as gateway:
        await gateway.notify.wait_for_match("STATUS", lambda s: "modem home" in s)
        modem_emulator.set_fault(ModemFault.STOP_READING)
        gateway.notify.messages.clear()
        stuck = await gateway.notify.wait_for_match(
            "STATUS", lambda s: "stuck" in s, within=1.0 + 2 * COMMAND_TIMEOUT + 1.0
        )
        assert stuck["STATUS"].startswith("token ready")
        assert "stopped reading" in stuck["STATUS"]
        served = await run_cli(fake_bluez, *TOKEN)
        assert served.returncode == 0, served.stderr
        fetched = endorse_sim.token_requests
        gateway.signal(signal.SIGUSR1)  # a fetch while the modem is stuck
        await token_requests(endorse_sim, fetched + 1)
        modem_emulator.set_fault(ModemFault.NONE)
        gateway.notify.messages.clear()
        await gateway.notify.wait_for_match("STATUS", lambda s: "modem home" in s)
        modem_emulator.set_fault(ModemFault.STOP_READING)
        assert await sigterm_exit_seconds(gateway) < STOP_SECONDS
    assert "Traceback" not in gateway.log_text()
