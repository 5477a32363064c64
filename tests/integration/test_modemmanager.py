"""The modemmanager backend against a fake ModemManager on a private system bus."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from endorse_ble.peripheral.mm_modem import MmModem
from endorse_ble.peripheral.ports import Registration
from endorse_ble.peripheral.settings import ModemSettings
from endorse_ble.testbed.bluez.harness import FakeBluezHandle
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.gateway.process import GatewaySetup, running_gateway
from endorse_ble.testbed.gateway.pytest_fixtures import run_cli
from endorse_ble.testbed.modemmanager.fake import REG_HOME, REG_SEARCHING, FakeModemManager

pytestmark = pytest.mark.integration

TOKEN = ("endorse_ble.central", "token", "--adapter", "hci1", "-q")
SETTINGS = ModemSettings(backend="modemmanager", command_timeout_seconds=2.0)


@pytest.fixture
def on_fake_system_bus(fake_bluez: FakeBluezHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", fake_bluez.peripheral_bus)


@pytest.mark.usefixtures("on_fake_system_bus")
async def test_health_and_identity_from_modemmanager(fake_modemmanager: FakeModemManager) -> None:
    """Registration, signal, operator and the SIM's identity, in one D-Bus call."""
    modem = MmModem(SETTINGS)
    health = await asyncio.to_thread(modem.health)
    assert (health.registration, health.signal_dbm, health.operator, health.fault) == (
        Registration.HOME,
        -71,
        "SORACOM",
        "",
    )
    identity = await asyncio.to_thread(modem.identity)
    assert (identity.imei, identity.imsi, identity.iccid) == (
        "356938035643809",
        "440103123456789",
        "8981100000123456789",
    )


@pytest.mark.usefixtures("on_fake_system_bus")
async def test_faults_are_reported_then_cleared(fake_modemmanager: FakeModemManager) -> None:
    """Searching, no SIM, the modem gone and back under a new path: each read right."""
    modem = MmModem(SETTINGS)
    fake_modemmanager.set_registration(REG_SEARCHING)
    assert (await asyncio.to_thread(modem.health)).registration is Registration.SEARCHING
    fake_modemmanager.set_sim_present(False)
    health = await asyncio.to_thread(modem.health)
    assert (health.registration, health.fault) == (Registration.UNKNOWN, "sim_missing")
    fake_modemmanager.set_sim_present(True)
    fake_modemmanager.set_registration(REG_HOME)
    fake_modemmanager.remove_modem()
    health = await asyncio.to_thread(modem.health)
    assert health.fault == "no_modem"
    fake_modemmanager.add_modem()
    assert (await asyncio.to_thread(modem.health)).registration is Registration.HOME
    assert fake_modemmanager.modem_path.endswith("/Modem/4")


@pytest.mark.usefixtures("on_fake_system_bus")
async def test_modem_id_picks_one_modem(fake_modemmanager: FakeModemManager) -> None:
    """modem_id names a modem by its EquipmentIdentifier; an unknown one is no_modem."""
    chosen = MmModem(ModemSettings(backend="modemmanager", modem_id="356938035643809"))
    assert (await asyncio.to_thread(chosen.health)).registration is Registration.HOME
    other = MmModem(ModemSettings(backend="modemmanager", modem_id="350000000000000"))
    assert (await asyncio.to_thread(other.health)).fault == "no_modem"


@pytest.mark.usefixtures("on_fake_system_bus")
async def test_no_modemmanager_on_the_bus() -> None:
    """Without ModemManager the modem is unknown with a reason, never an exception."""
    health = await asyncio.to_thread(MmModem(SETTINGS).health)
    assert (health.registration, health.fault) == (Registration.UNKNOWN, "manager_unavailable")


async def test_gateway_on_modemmanager_serves_and_waits_for_registration(
    fake_bluez: FakeBluezHandle,
    fake_modemmanager: FakeModemManager,
    endorse_sim: EndorseSimulator,
    tmp_path: Path,
) -> None:
    """End to end on backend = "modemmanager": no fetch while searching, a token once
    registered, and the laptop gets it; STATUS shows the modem's IMEI and ICCID."""
    fake_modemmanager.set_registration(REG_SEARCHING)
    setup = GatewaySetup(
        endorse_url=endorse_sim.url,
        modem_port="/nonexistent/ttyUSB2",
        modem_backend="modemmanager",
        modem_poll_interval=1.0,
    )
    async with running_gateway(setup, fake_bluez.peripheral_bus, tmp_path) as gateway:
        ready = await gateway.notify.wait_for("READY", "1")
        assert "waiting for network registration" in ready["STATUS"]
        assert endorse_sim.token_requests == 0
        fake_modemmanager.set_registration(REG_HOME)
        status = await gateway.notify.wait_for_match(
            "STATUS", lambda s: s.startswith("token ready")
        )
        assert (
            "modem home -71 dBm (IMEI 356938035643809, ICCID 8981100000123456789)"
            in (status["STATUS"])
        )
        result = await run_cli(fake_bluez, *TOKEN)
        assert result.returncode == 0, result.stderr
        fake_modemmanager.set_sim_present(False)
        await gateway.notify.wait_for_match("STATUS", lambda s: "sim_missing" in s or "no SIM" in s)
