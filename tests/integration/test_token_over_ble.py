"""The token crosses the air intact: the real daemon (bless) to the real CLI (bleak)."""

from __future__ import annotations

import asyncio
import math
import signal

import jwt
import pytest

from endorse_ble.testbed.bluez.harness import FakeBluezHandle
from endorse_ble.testbed.bluez.sample_profile import SERVICE_UUID as SAMPLE_SERVICE_UUID
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.endorse_keys import AUDIENCE
from endorse_ble.testbed.gateway.process import GatewayProcess
from endorse_ble.testbed.gateway.pytest_fixtures import run_cli
from endorse_ble.tokenlink import profile
from endorse_ble.tokenlink.token import parse_token

pytestmark = pytest.mark.integration

TOKEN = ("endorse_ble.central", "token", "--adapter", "hci1", "--scan-timeout", "10")


def verify(sim: EndorseSimulator, token: str) -> dict[str, object]:
    """The token's claims, after checking its RS256 signature with the simulator's key."""
    kid = jwt.get_unverified_header(token)["kid"]
    pem = sim.public_key_pem(kid)
    assert pem is not None
    claims: dict[str, object] = jwt.decode(
        token, pem, algorithms=["RS256"], audience=AUDIENCE, leeway=120
    )
    return claims


async def att_reads(fake_bluez: FakeBluezHandle) -> int:
    counters = await fake_bluez.control.counters()
    return counters.get("read.pdus_c2p", 0) + counters.get("read_blob.pdus_c2p", 0)


@pytest.mark.parametrize("fake_bluez", [23, 185, 517], indirect=True)
@pytest.mark.parametrize("padding", [0, 900], ids=["800B", "2KiB"])
async def test_token_arrives_intact_at_every_mtu(
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    gateway: GatewayProcess,
    padding: int,
) -> None:
    """At MTU 23, 185 and 517, 800-byte and 2 KiB tokens verify and cost <= floor + 2 reads."""
    if padding:
        endorse_sim.padding_bytes = padding
        gateway.signal(signal.SIGUSR1)  # fetch a padded token now
        await gateway.notify.wait_for("STATUS")
        await _served_token_changes(gateway)
    await fake_bluez.control.reset_counters()
    result = await run_cli(fake_bluez, *TOKEN, "-q")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    verify(endorse_sim, token)
    assert (len(token) > 1900) == bool(padding)
    floor = math.ceil(len(token) / (fake_bluez.mtu - 1))
    assert await att_reads(fake_bluez) <= floor + 2
    assert token.split(".")[2] not in gateway.log_text()


async def _served_token_changes(gateway: GatewayProcess) -> None:
    """Wait until a STATUS names a token other than the first one served."""
    first = await gateway.notify.wait_for("READY", "1")
    old = first["STATUS"].split("sha256 ")[1][:12]
    await gateway.notify.wait_for_match(
        "STATUS", lambda status: "sha256 " in status and old not in status
    )


async def test_challenge_returns_a_fresh_token_bound_to_the_nonce(
    fake_bluez: FakeBluezHandle, endorse_sim: EndorseSimulator, gateway: GatewayProcess
) -> None:
    """--challenge gets a new token whose signed claims carry the central's nonce."""
    before = endorse_sim.token_requests
    result = await run_cli(fake_bluez, *TOKEN, "--challenge")
    assert result.returncode == 0, result.stderr
    token = parse_token(result.stdout.strip())
    verify(endorse_sim, token.raw)
    assert token.nonce is not None
    assert endorse_sim.last_request_parameters == {"nonce": token.nonce}
    assert endorse_sim.token_requests == before + 1


@pytest.mark.parametrize("gateway", [{"mode": "on-demand"}], indirect=True)
async def test_on_demand_gateway_fetches_when_a_central_asks(
    fake_bluez: FakeBluezHandle, endorse_sim: EndorseSimulator, gateway: GatewayProcess
) -> None:
    """An on-demand gateway holds no token until a central asks; then it fetches one."""
    assert endorse_sim.token_requests == 0
    result = await run_cli(fake_bluez, *TOKEN)
    assert result.returncode == 0, result.stderr
    verify(endorse_sim, result.stdout.strip())
    assert endorse_sim.token_requests == 1


@pytest.mark.parametrize(
    "value",
    [b"short", b"x" * 65, b"has spaces!!", b"\xff" * 16],
    ids=["too-short", "too-long", "bad-characters", "not-ascii"],
)
async def test_garbage_challenge_gets_an_att_error_and_the_gateway_keeps_serving(
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    gateway: GatewayProcess,
    value: bytes,
) -> None:
    """A hostile write to Challenge fails on that central alone; others still get tokens."""
    code, outcome = await fake_bluez.run_central(
        "--service", profile.SERVICE_UUID, "--op", f"write:{profile.CHALLENGE_UUID}:{value.hex()}"
    )
    assert code == 1
    assert outcome["results"][0]["error"]
    assert endorse_sim.token_requests == 1  # nothing was fetched for the garbage
    result = await run_cli(fake_bluez, *TOKEN, "-q")
    assert result.returncode == 0, result.stderr
    verify(endorse_sim, result.stdout.strip())
    assert gateway.proc.returncode is None


async def test_disconnect_mid_transfer_is_a_clear_error_then_recovers(
    fake_bluez: FakeBluezHandle, endorse_sim: EndorseSimulator, gateway: GatewayProcess
) -> None:
    """A link lost in the middle of the pages gives a clear error, never a wrong token."""
    await fake_bluez.control.drop_after(10)
    failed = await run_cli(fake_bluez, *TOKEN)
    assert failed.returncode == 3  # documented: the gateway or the BLE link failed
    assert failed.stdout == ""
    assert "BLE link failed" in failed.stderr
    again = await run_cli(fake_bluez, *TOKEN, "-q")
    assert again.returncode == 0, again.stderr
    verify(endorse_sim, again.stdout.strip())


async def test_gateway_registers_again_when_bluez_restarts(
    fake_bluez: FakeBluezHandle, endorse_sim: EndorseSimulator, gateway: GatewayProcess
) -> None:
    """After bluetoothd restarts (name gone, state forgotten) centrals find the gateway again."""
    await fake_bluez.control.restart(0.2)
    result = await run_cli(fake_bluez, *TOKEN, "-q")
    assert result.returncode == 0, result.stderr
    verify(endorse_sim, result.stdout.strip())
    assert "registered again" in gateway.log_text()


@pytest.mark.parametrize("gateway", [{"log_level": "DEBUG"}], indirect=True)
async def test_token_rotating_between_page_reads_is_detected_and_reread(
    fake_bluez: FakeBluezHandle, endorse_sim: EndorseSimulator, gateway: GatewayProcess
) -> None:
    """A rotation while the pages are read is caught by the hash; the central reads again."""
    await fake_bluez.control.pause_after(12)  # inside page 0 at MTU 23
    reader = asyncio.ensure_future(run_cli(fake_bluez, *TOKEN, "--verbose"))
    assert await fake_bluez.control.wait_paused(within=20)
    gateway.signal(signal.SIGUSR1)
    await _served_token_changes(gateway)
    await fake_bluez.control.resume()
    result = await reader
    assert result.returncode == 0, result.stderr
    assert "changed while being read" in result.stderr
    token = result.stdout.strip()
    verify(endorse_sim, token)
    assert f"sha256={parse_token(token).fingerprint}" in result.stderr
    # Even at DEBUG, neither the daemon nor its libraries log token material.
    log = gateway.log_text()
    assert "DEBUG" in log
    assert all(segment not in log for segment in token.split(".")[1:])


async def test_three_centrals_reading_at_once_all_get_the_token(
    fake_bluez: FakeBluezHandle, endorse_sim: EndorseSimulator, gateway: GatewayProcess
) -> None:
    """Several readers at the same time each get the whole, valid token."""
    results = await asyncio.gather(*(run_cli(fake_bluez, *TOKEN, "-q") for _ in range(3)))
    tokens = {r.stdout.strip() for r in results}
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    # They took turns through this test's own gateway lock, not the machine's.
    assert list((fake_bluez.log_dir / "home").rglob("gateway-*.lock"))
    assert len(tokens) == 1
    verify(endorse_sim, tokens.pop())


@pytest.mark.parametrize("gateway", [{"require_encryption": True}], indirect=True)
async def test_encrypted_pages_need_pairing(
    fake_bluez: FakeBluezHandle, endorse_sim: EndorseSimulator, gateway: GatewayProcess
) -> None:
    """With require_encryption, an unpaired central is told to pair; a paired one reads."""
    refused = await run_cli(fake_bluez, *TOKEN)
    assert refused.returncode == 3
    assert "--pair" in refused.stderr
    await gateway.open_pairing()
    paired = await run_cli(fake_bluez, *TOKEN, "--pair", "-q")
    assert paired.returncode == 0, paired.stderr
    verify(endorse_sim, paired.stdout.strip())


async def test_sample_profile_is_not_mistaken_for_a_gateway() -> None:
    """The profile's service UUID is its own (the scan filters on it)."""
    assert profile.SERVICE_UUID != SAMPLE_SERVICE_UUID
