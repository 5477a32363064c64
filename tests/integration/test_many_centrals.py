"""Strangers, several laptops and many processes at one gateway: the real daemon (bless),
the real CLI (bleak) and a hostile stock-bleak central, over the fake BlueZ.

Durations are scaled down (a stranger writing every 0.1 s instead of every second); the
budgets are the product defaults unless a test says otherwise.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from endorse_ble.testbed.bluez.harness import REPO_ROOT, FakeBluezHandle
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.exchange.pytest_fixtures import RunningExchange
from endorse_ble.testbed.gateway.process import GatewayProcess
from endorse_ble.testbed.gateway.pytest_fixtures import CliResult, run_cli
from endorse_ble.tokenlink.token import parse_token
from tests.central_cli import user_env

pytestmark = pytest.mark.integration

TWO_LAPTOPS = {"laptops": 2}


def laptop_home(tmp_path: Path, name: str) -> Path:
    home = tmp_path / name
    home.mkdir(exist_ok=True)
    return home


async def central(fake_bluez: FakeBluezHandle, home: Path, adapter: str, *args: str) -> CliResult:
    """``endorse-central ARGS`` as the user ``home`` on laptop adapter ``adapter``."""
    return await run_cli(
        fake_bluez,
        "endorse_ble.central",
        *args,
        "--adapter",
        adapter,
        "--scan-timeout",
        "10",
        env=user_env(home),
        limit=120,
        laptop=adapter,
    )


@asynccontextmanager
async def stranger(fake_bluez: FakeBluezHandle, adapter: str) -> AsyncIterator[dict[str, int]]:
    """A never-paired central on ``adapter`` writing a valid nonce every 0.1 s while the
    block runs; the dict gets its tally (accepted, busy, refused, failed) at the end."""
    proc_stderr = (fake_bluez.log_dir / f"stranger-{adapter}.log").open("ab")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "endorse_ble.testbed.bluez.stranger",
        "--adapter",
        adapter,
        "--interval",
        "0.1",
        env=fake_bluez.env(adapter),
        cwd=REPO_ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=proc_stderr,
    )
    assert proc.stdout is not None and proc.stdin is not None
    tally: dict[str, int] = {}
    proc_stderr.close()
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line == b"CONNECTED\n"
        yield tally
    finally:
        proc.stdin.close()
        out = await asyncio.wait_for(proc.stdout.read(), 60)
        await proc.wait()
        tally.update(json.loads(out.decode().strip().splitlines()[-1]))


@pytest.mark.parametrize("fake_bluez", [TWO_LAPTOPS], indirect=True)
async def test_a_stranger_cannot_lock_a_bonded_laptop_out(
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    gateway: GatewayProcess,
    tmp_path: Path,
) -> None:
    """While a stranger writes challenges non-stop, a bonded laptop gets 10 of 10 fresh
    tokens; the stranger causes at most its own budget (3) of Endorse requests."""
    home = laptop_home(tmp_path, "bonded")
    before = endorse_sim.token_requests
    await gateway.open_pairing()
    async with stranger(fake_bluez, "hci2") as tally:
        paired = await central(fake_bluez, home, "hci1", "token", "--challenge", "--pair", "-q")
        results = [paired]
        for _ in range(9):  # bonded now: the Bonded Challenge is used without --pair
            results.append(await central(fake_bluez, home, "hci1", "token", "--challenge", "-q"))
    refusals = [line for line in gateway.log_text().splitlines() if "refused:" in line]
    assert [r.returncode for r in results] == [0] * 10, ([r.stderr for r in results], refusals)
    nonces = {parse_token(r.stdout.strip()).nonce for r in results}
    assert len(nonces) == 10 and None not in nonces
    assert tally["refused"] > 0, tally
    assert tally["accepted"] <= 3, tally
    assert endorse_sim.token_requests - before == 10 + tally["accepted"]


@pytest.mark.parametrize("fake_bluez", [TWO_LAPTOPS], indirect=True)
async def test_unpaired_laptop_has_its_own_budget_then_a_clear_refusal(
    fake_bluez: FakeBluezHandle, gateway: GatewayProcess, tmp_path: Path
) -> None:
    """With require_encryption = false, an unpaired laptop beside the same stranger gets
    its own burst of fresh tokens; past it, the message names the budget and the wait."""
    home = laptop_home(tmp_path, "unpaired")
    async with stranger(fake_bluez, "hci2"):
        results = [
            await central(fake_bluez, home, "hci1", "token", "--challenge", "-q") for _ in range(4)
        ]
    assert [r.returncode for r in results[:3]] == [0, 0, 0], [r.stderr for r in results]
    refused = results[3]
    assert refused.returncode == 3
    assert "budget" in refused.stderr and "the next is allowed in" in refused.stderr
    assert refused.stderr.count("\n") == 1


@pytest.mark.parametrize("gateway", [{"challenge_burst": 10}], indirect=True)
async def test_eight_processes_two_profiles_and_a_token_challenge(
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    gateway: GatewayProcess,
    nonce_exchange: RunningExchange,
    tmp_path: Path,
) -> None:
    """8 processes at once (credentials and credential-process, profiles a and b) and a
    token --challenge: all succeed, with one fresh read per profile."""
    home = laptop_home(tmp_path, "user")
    config = home / "config" / "endorse-ble" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[exchange]\nurl = "{nonce_exchange.url}"\n[profiles.a]\n[profiles.b]\n')
    before = endorse_sim.token_requests
    runs = []
    for index in range(8):
        profile = "ab"[index % 2]
        if index < 4:
            argv = ("credential-process", "--profile", profile)
        else:
            argv = ("credentials", "--profile", profile, "--json", "-q")
        runs.append(central(fake_bluez, home, "hci1", *argv))
    runs.append(central(fake_bluez, home, "hci1", "token", "--challenge", "-q"))
    results = await asyncio.gather(*runs)
    assert [r.returncode for r in results] == [0] * 9, [r.stderr for r in results]
    keys: dict[str, set[str]] = {"a": set(), "b": set()}
    for index, result in enumerate(results[:8]):
        keys["ab"[index % 2]].add(json.loads(result.stdout)["AccessKeyId"])
    assert len(keys["a"]) == 1 and len(keys["b"]) == 1 and keys["a"] != keys["b"]
    assert parse_token(results[8].stdout.strip()).nonce is not None
    assert endorse_sim.token_requests - before == 3


@pytest.mark.parametrize("fake_bluez", [{"laptops": 3}], indirect=True)
@pytest.mark.parametrize("gateway", [{"challenge_burst": 10}], indirect=True)
async def test_three_laptops_five_fresh_reads_each_at_once(
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    gateway: GatewayProcess,
    tmp_path: Path,
) -> None:
    """Three independent laptops, five token --challenge each, all at once: 15 of 15."""
    runs = [
        central(
            fake_bluez, laptop_home(tmp_path, f"laptop{n}"), f"hci{n}", "token", "--challenge", "-q"
        )
        for n in (1, 2, 3)
        for _ in range(5)
    ]
    results = await asyncio.gather(*runs)
    failures = [r.stderr for r in results if r.returncode != 0]
    assert not failures, failures
    assert len({parse_token(r.stdout.strip()).nonce for r in results}) == 15


async def test_an_att_read_that_never_answers_ends_at_the_gateway_deadline(
    fake_bluez: FakeBluezHandle, gateway: GatewayProcess, tmp_path: Path
) -> None:
    """A read held forever ends the command at --gateway-timeout with advice (exit 3); a
    run queued behind it on the same laptop is not held past that, and then succeeds."""
    home = laptop_home(tmp_path, "user")
    await fake_bluez.control.pause_after(0)
    started = time.monotonic()
    stuck = asyncio.ensure_future(
        central(fake_bluez, home, "hci1", "token", "--gateway-timeout", "4")
    )
    assert await fake_bluez.control.wait_paused(30)
    queued = asyncio.ensure_future(
        central(fake_bluez, home, "hci1", "token", "-q", "--gateway-timeout", "60")
    )
    result = await stuck
    assert result.returncode == 3
    assert "--gateway-timeout 4" in result.stderr and result.stderr.count("\n") == 1
    assert time.monotonic() - started < 4 + 10  # the deadline, plus a loaded start-up
    await fake_bluez.control.resume()
    after = await queued
    assert after.returncode == 0, after.stderr


@pytest.mark.parametrize("fake_bluez", [{"att_timeout": 1.0}], indirect=True)
async def test_the_fake_drops_the_link_when_an_att_read_times_out(
    fake_bluez: FakeBluezHandle, gateway: GatewayProcess, tmp_path: Path
) -> None:
    """As BlueZ after 30 s (1 s here): the transaction times out and the link drops."""
    await fake_bluez.control.pause_after(0)
    result = await central(fake_bluez, laptop_home(tmp_path, "user"), "hci1", "token")
    assert result.returncode == 3
    assert "link" in result.stderr.lower()
