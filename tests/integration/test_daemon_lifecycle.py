"""The daemon under a real NOTIFY_SOCKET: READY, STATUS, WATCHDOG, SIGHUP and SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from endorse_ble.testbed.bluez.harness import FakeBluezHandle
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.gateway.process import GatewaySetup, running_gateway
from endorse_ble.testbed.gateway.pytest_fixtures import run_cli
from endorse_ble.testbed.modem.emulator import ModemEmulator

pytestmark = pytest.mark.integration

TOKEN = ("endorse_ble.central", "token", "--adapter", "hci1", "-q")


def setup_for(sim: EndorseSimulator, modem: ModemEmulator) -> GatewaySetup:
    return GatewaySetup(endorse_url=sim.url, modem_port=modem.device_path)


def rewrite_config(log_dir: Path, setup: GatewaySetup) -> None:
    (log_dir / "gateway.toml").write_text(setup.config_toml())


async def test_ready_comes_after_registration_and_the_first_token(
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    modem_emulator: ModemEmulator,
    tmp_path: Path,
) -> None:
    """READY=1 is sent once the app and advert are registered and a token is held."""
    setup = setup_for(endorse_sim, modem_emulator)
    async with running_gateway(setup, fake_bluez.peripheral_bus, tmp_path) as gateway:
        ready = await gateway.notify.wait_for("READY", "1")
        state = await fake_bluez.control.state()
        assert (state.applications, state.advertisements) == (1, 1)
        assert endorse_sim.token_requests == 1
        assert ready["STATUS"].startswith("token ready (sha256 ")
        assert "modem home" in ready["STATUS"]
        earlier = gateway.notify.messages[: gateway.notify.messages.index(ready)]
        assert all("READY" not in m for m in earlier)
        # check-config's environment checks ran at start and found the testbed fitting.
        assert "environment: modem port, interface, adapter and Endorse host look right" in (
            gateway.log_text()
        )


async def test_watchdog_pings_follow_watchdog_usec(
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    modem_emulator: ModemEmulator,
    tmp_path: Path,
) -> None:
    """With WATCHDOG_USEC=1 s the loop pings WATCHDOG=1 about every half second."""
    setup = setup_for(endorse_sim, modem_emulator)
    async with running_gateway(
        setup, fake_bluez.peripheral_bus, tmp_path, watchdog_usec=1_000_000
    ) as gateway:
        started = time.monotonic()
        await gateway.notify.wait_for_match(
            "WATCHDOG", lambda _: sum("WATCHDOG" in m for m in gateway.notify.messages) >= 4
        )
        assert time.monotonic() - started < 4


async def test_sigterm_unregisters_and_exits_promptly(
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    modem_emulator: ModemEmulator,
    tmp_path: Path,
) -> None:
    """SIGTERM: STOPPING=1, application and advertisement unregistered, exit 0 within 5 s."""
    setup = setup_for(endorse_sim, modem_emulator)
    async with running_gateway(setup, fake_bluez.peripheral_bus, tmp_path) as gateway:
        started = time.monotonic()
        gateway.signal(signal.SIGTERM)
        code = await asyncio.wait_for(gateway.proc.wait(), 5)
        assert code == 0
        assert time.monotonic() - started < 5
        await gateway.notify.wait_for("STOPPING", "1")
        state = await fake_bluez.control.state()
        assert (state.applications, state.advertisements) == (0, 0)


async def test_sighup_reloads_without_dropping_a_reading_central(
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    modem_emulator: ModemEmulator,
    tmp_path: Path,
) -> None:
    """A reload keeps the token and the BLE registration: a read in progress completes."""
    setup = setup_for(endorse_sim, modem_emulator)
    async with running_gateway(setup, fake_bluez.peripheral_bus, tmp_path) as gateway:
        await gateway.notify.wait_for("READY", "1")
        await fake_bluez.control.pause_after(5)
        reader = asyncio.ensure_future(run_cli(fake_bluez, *TOKEN))
        assert await fake_bluez.control.wait_paused(within=20)
        rewrite_config(tmp_path, replace(setup, read_timeout=7.0, log_level="DEBUG"))
        gateway.signal(signal.SIGHUP)
        await gateway.notify.wait_for("RELOADING", "1")
        await gateway.notify.wait_for_match(
            "READY", lambda _: sum("READY" in m for m in gateway.notify.messages) >= 2
        )
        await fake_bluez.control.resume()
        result = await reader
        assert result.returncode == 0, result.stderr
        assert endorse_sim.token_requests == 1  # the token held was kept
        assert "configuration reloaded" in gateway.log_text()


async def test_sighup_with_a_broken_config_keeps_serving(
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    modem_emulator: ModemEmulator,
    tmp_path: Path,
) -> None:
    """An invalid new config is refused with its reason; the daemon serves on unchanged."""
    setup = setup_for(endorse_sim, modem_emulator)
    async with running_gateway(setup, fake_bluez.peripheral_bus, tmp_path) as gateway:
        await gateway.notify.wait_for("READY", "1")
        (tmp_path / "gateway.toml").write_text("[refresh]\nrenew_at_fraction = 1.5\n")
        gateway.signal(signal.SIGHUP)
        refused = await gateway.notify.wait_for_match(
            "STATUS", lambda s: s.startswith("reload refused")
        )
        assert "refresh.renew_at_fraction" in refused["STATUS"]
        result = await run_cli(fake_bluez, *TOKEN)
        assert result.returncode == 0, result.stderr
        assert gateway.proc.returncode is None


async def test_sighup_with_a_new_name_advertises_it(
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    modem_emulator: ModemEmulator,
    tmp_path: Path,
) -> None:
    """A changed BLE name re-registers the application: centrals find the new name."""
    setup = setup_for(endorse_sim, modem_emulator)
    async with running_gateway(setup, fake_bluez.peripheral_bus, tmp_path) as gateway:
        await gateway.notify.wait_for("READY", "1")
        rewrite_config(tmp_path, replace(setup, name="renamed-gw"))
        gateway.signal(signal.SIGHUP)
        await gateway.notify.wait_for_match(
            "READY", lambda _: sum("READY" in m for m in gateway.notify.messages) >= 2
        )
        result = await run_cli(fake_bluez, *TOKEN, "--name", "renamed-gw")
        assert result.returncode == 0, result.stderr
        assert endorse_sim.token_requests == 1
