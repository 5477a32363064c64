"""A central in range cannot flood the gateway's journal with refused requests."""

from __future__ import annotations

import asyncio

import pytest

from endorse_ble.testbed.bluez.harness import FakeBluezHandle
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.gateway.process import GatewayProcess
from endorse_ble.tokenlink import profile

pytestmark = pytest.mark.integration

WRITES = 2000
#: The budget for the whole flood at the default level (INFO).
MAX_LOG_LINES = 20


async def test_2000_malformed_challenge_writes_log_at_most_20_lines(
    fake_bluez: FakeBluezHandle, endorse_sim: EndorseSimulator, gateway: GatewayProcess
) -> None:
    """Each malformed write gets its ATT error, and the journal hears of them a few times,
    with no traceback and never the written bytes."""
    before = gateway.log_text().splitlines()
    bad = [b"short", b"x" * 65, b"has spaces!!", b"\xff" * 16]
    ops = [f"write:{profile.CHALLENGE_UUID}:{bad[i % len(bad)].hex()}" for i in range(WRITES)]
    code, outcome = await fake_bluez.run_central(
        "--service",
        profile.SERVICE_UUID,
        "--keep-going",
        *[arg for op in ops for arg in ("--op", op)],
        limit=120,
    )
    assert code == 1
    assert len(outcome["results"]) == WRITES
    assert all(result.get("error") for result in outcome["results"])
    added = gateway.log_text().splitlines()[len(before) :]
    assert len(added) <= MAX_LOG_LINES, "\n".join(added[:40])
    text = "\n".join(added)
    assert "Traceback" not in text
    assert "has spaces" not in text
    assert endorse_sim.token_requests == 1
    assert gateway.proc.returncode is None


@pytest.mark.parametrize("gateway", [{"log_level": "DEBUG"}], indirect=True)
async def test_no_nonce_in_the_log_at_debug(
    fake_bluez: FakeBluezHandle, endorse_sim: EndorseSimulator, gateway: GatewayProcess
) -> None:
    """A challenge's nonce reaches Endorse but no log line, even urllib3's at DEBUG."""
    nonce = "n0nceN0tInTheL0g-" + "Q" * 20
    code, _ = await fake_bluez.run_central(
        "--service",
        profile.SERVICE_UUID,
        "--op",
        f"write:{profile.CHALLENGE_UUID}:{nonce.encode().hex()}",
    )
    assert code == 0
    assert await asyncio.to_thread(endorse_sim.wait_for_token_requests, 2)
    assert endorse_sim.last_request_parameters == {"nonce": nonce}
    log = gateway.log_text()
    assert "DEBUG" in log
    assert nonce not in log
