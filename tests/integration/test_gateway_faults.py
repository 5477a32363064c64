"""The real daemon facing a misbehaving Endorse or modem: it stays up, says why, recovers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import jwt
import pytest

from endorse_ble.testbed.bluez.harness import FakeBluezHandle
from endorse_ble.testbed.endorse.server import EndorseFault, EndorseSimulator
from endorse_ble.testbed.endorse_keys import AUDIENCE
from endorse_ble.testbed.gateway.process import GatewayProcess, GatewaySetup, running_gateway
from endorse_ble.testbed.gateway.pytest_fixtures import run_cli
from endorse_ble.testbed.modem.emulator import ModemEmulator, ModemFault

pytestmark = pytest.mark.integration

TOKEN = ("endorse_ble.central", "token", "--adapter", "hci1", "-q")


@asynccontextmanager
async def gateway_for(
    fake_bluez: FakeBluezHandle,
    sim: EndorseSimulator,
    modem: ModemEmulator,
    log_dir: Path,
    **overrides: object,
) -> AsyncIterator[GatewayProcess]:
    setup = GatewaySetup(endorse_url=sim.url, modem_port=modem.device_path, **overrides)  # type: ignore[arg-type]
    async with running_gateway(setup, fake_bluez.peripheral_bus, log_dir) as gateway:
        yield gateway


async def assert_serves_a_valid_token(fake_bluez: FakeBluezHandle, sim: EndorseSimulator) -> None:
    result = await run_cli(fake_bluez, *TOKEN)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    pem = sim.public_key_pem(jwt.get_unverified_header(token)["kid"])
    assert pem is not None
    jwt.decode(token, pem, algorithms=["RS256"], audience=AUDIENCE)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (EndorseFault.NOT_ON_SIM_LINK, "refused"),
        (EndorseFault.SERVER_ERROR, "server_error"),
        (EndorseFault.GARBAGE, "not_json"),
        (EndorseFault.TRUNCATED_JSON, "not_json"),
        (EndorseFault.HUGE_BODY, "body_too_large"),
        (EndorseFault.SLOW, "read_timeout"),
        (EndorseFault.HANG, "read_timeout"),
    ],
)
async def test_endorse_faults_are_reported_and_the_gateway_recovers(
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    modem_emulator: ModemEmulator,
    tmp_path: Path,
    fault: EndorseFault,
    reason: str,
) -> None:
    """Each Endorse fault: no token served, the reason in STATUS, a token once it clears."""
    endorse_sim.fault = fault
    endorse_sim.slow_delay_seconds = 3.0
    async with gateway_for(
        fake_bluez, endorse_sim, modem_emulator, tmp_path, read_timeout=1.0
    ) as gateway:
        ready = await gateway.notify.wait_for("READY", "1")
        assert ready["STATUS"].startswith("token failed")
        assert reason in ready["STATUS"]
        refused = await run_cli(fake_bluez, *TOKEN)
        assert refused.returncode == 3
        assert refused.stdout == ""
        endorse_sim.fault = EndorseFault.NONE
        await gateway.notify.wait_for_match("STATUS", lambda s: s.startswith("token ready"))
        await assert_serves_a_valid_token(fake_bluez, endorse_sim)
        assert gateway.proc.returncode is None


async def test_no_registration_holds_fetches_until_the_network_is_back(
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    modem_emulator: ModemEmulator,
    tmp_path: Path,
) -> None:
    """Not registered: no cellular traffic, STATUS says so; registered again: a token."""
    modem_emulator.set_fault(ModemFault.NO_REGISTRATION)
    async with gateway_for(fake_bluez, endorse_sim, modem_emulator, tmp_path) as gateway:
        ready = await gateway.notify.wait_for("READY", "1")
        assert "waiting for network registration" in ready["STATUS"]
        assert endorse_sim.token_requests == 0
        modem_emulator.set_fault(ModemFault.NONE)
        await gateway.notify.wait_for_match("STATUS", lambda s: s.startswith("token ready"))
        assert endorse_sim.token_requests == 1
        await assert_serves_a_valid_token(fake_bluez, endorse_sim)


@pytest.mark.parametrize(
    "fault",
    [ModemFault.ERROR, ModemFault.SILENCE, ModemFault.GARBAGE, ModemFault.PPP_BUSY],
)
async def test_unusable_modem_port_is_unknown_not_fatal(
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    modem_emulator: ModemEmulator,
    tmp_path: Path,
    fault: ModemFault,
) -> None:
    """An AT port that errs, stays silent, babbles or carries PPP: modem unknown, token served."""
    modem_emulator.set_fault(fault)
    async with gateway_for(fake_bluez, endorse_sim, modem_emulator, tmp_path) as gateway:
        ready = await gateway.notify.wait_for("READY", "1")
        assert "modem unknown" in ready["STATUS"]
        assert ready["STATUS"].startswith("token ready")
        await assert_serves_a_valid_token(fake_bluez, endorse_sim)


async def test_modem_unplugged_and_replugged_is_followed(
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    modem_emulator: ModemEmulator,
    tmp_path: Path,
) -> None:
    """A modem that vanishes is reported unknown; when it comes back it is read again."""
    async with gateway_for(
        fake_bluez, endorse_sim, modem_emulator, tmp_path, modem_poll_interval=1.0
    ) as gateway:
        await gateway.notify.wait_for_match("STATUS", lambda s: "modem home" in s)
        modem_emulator.set_fault(ModemFault.UNPLUG)
        await gateway.notify.wait_for_match("STATUS", lambda s: "modem unknown" in s)
        modem_emulator.set_fault(ModemFault.REPLUG)
        gateway.notify.messages.clear()
        await gateway.notify.wait_for_match("STATUS", lambda s: "modem home" in s)
        await assert_serves_a_valid_token(fake_bluez, endorse_sim)


async def test_weak_signal_is_reported(
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    modem_emulator: ModemEmulator,
    tmp_path: Path,
) -> None:
    """A weak but registered modem still fetches; its dBm shows in STATUS."""
    modem_emulator.set_fault(ModemFault.WEAK_SIGNAL)
    async with gateway_for(fake_bluez, endorse_sim, modem_emulator, tmp_path) as gateway:
        ready = await gateway.notify.wait_for("READY", "1")
        assert ready["STATUS"].startswith("token ready")
        # rssi 2 is -109 dBm; rssi 99 ("not detectable") shows no dBm at all.
        assert re.search(
            r"modem home( -109 dBm)? \(IMEI 356938035643809, ICCID 8981100000123456789\);",
            ready["STATUS"],
        )
