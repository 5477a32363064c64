"""Every laptop command through the testbed: real bleak to the real daemon, exchange on moto."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from endorse_ble.testbed.bluez.harness import FakeBluezHandle
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.endorse_keys import SimIdentity
from endorse_ble.testbed.exchange.pytest_fixtures import (
    RunningExchange,
)
from endorse_ble.testbed.gateway.process import GatewayProcess
from endorse_ble.testbed.gateway.pytest_fixtures import CliResult, run_cli
from tests.central_cli import user_env

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ("--adapter", "hci1", "--scan-timeout", "10")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


async def laptop(fake_bluez: FakeBluezHandle, home: Path, *args: str) -> CliResult:
    """``endorse-central ARGS`` for a user whose HOME and caches live under ``home``."""
    return await run_cli(fake_bluez, "endorse_ble.central", *args, env=user_env(home))


async def air_requests(fake_bluez: FakeBluezHandle) -> int:
    return (await fake_bluez.control.counters()).get("total.pdus_c2p", 0)


async def test_scan_lists_the_gateway(
    fake_bluez: FakeBluezHandle, gateway: GatewayProcess, home: Path
) -> None:
    """scan --json names the advertising gateway with its address and RSSI."""
    result = await laptop(
        fake_bluez, home, "scan", "--adapter", "hci1", "--scan-timeout", "1.5", "--json"
    )
    assert result.returncode == 0, result.stderr
    (found,) = json.loads(result.stdout)
    assert found["name"] == "endorse-testbed"
    assert found["address"].count(":") == 5
    assert isinstance(found["rssi"], int)


async def test_status_shows_token_and_modem(
    fake_bluez: FakeBluezHandle, endorse_sim: EndorseSimulator, gateway: GatewayProcess, home: Path
) -> None:
    """status --json reports the served token and the modem, never the token itself."""
    result = await laptop(fake_bluez, home, "status", *GATEWAY, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["info"]["token_state"] == "ready"
    assert report["info"]["version"] == 1
    assert report["status"]["modem"]["reg"] == "home"
    assert report["status"]["token"]["fetches"] == endorse_sim.token_requests
    assert "eyJ" not in result.stdout


async def test_token_then_inspect_and_verify(
    fake_bluez: FakeBluezHandle, endorse_sim: EndorseSimulator, gateway: GatewayProcess, home: Path
) -> None:
    """A token read over BLE is decoded by inspect and verified against the keystore."""
    token = await laptop(fake_bluez, home, "token", *GATEWAY)
    assert token.returncode == 0, token.stderr
    shown = await run_cli(
        fake_bluez,
        "endorse_ble.central",
        "inspect",
        "-",
        "--json",
        "--verify",
        "--keystore",
        endorse_sim.keystore_url,
        env=user_env(home),
        stdin=token.stdout.encode(),
    )
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert SimIdentity().imsi in shown.stdout
    assert summary["signature"]["valid"] is True
    assert token.stdout.strip().split(".")[2] not in shown.stdout


async def test_credentials_through_ble_and_the_exchange(
    fake_bluez: FakeBluezHandle,
    gateway: GatewayProcess,
    nonce_exchange: RunningExchange,
    home: Path,
) -> None:
    """credentials --json: a nonce-bound token over BLE becomes STS credentials."""
    result = await laptop(
        fake_bluez,
        home,
        "credentials",
        *GATEWAY,
        "--exchange-url",
        nonce_exchange.url,
        "--json",
        "--timings",
    )
    assert result.returncode == 0, result.stderr
    creds = json.loads(result.stdout)
    assert creds["Version"] == 1
    assert creds["AccessKeyId"].startswith("ASIA")
    assert creds["SessionToken"]
    assert creds["SecretAccessKey"] not in result.stderr
    timings = result.stderr.split("timings: ")[1]
    # The exchange is checked before a fresh token is spent on it.
    assert [part.split()[0] for part in timings.split(", ")] == [
        "check",
        "scan",
        "connect",
        "read",
        "exchange",
    ]


def aws_cli(home: Path, fake_bluez: FakeBluezHandle, moto_server: str, *argv: str) -> CliResult:
    env = user_env(home)
    env.update(
        AWS_ENDPOINT_URL=moto_server,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        DBUS_SYSTEM_BUS_ADDRESS=fake_bluez.central_bus,
        PYTHONPATH=str(ROOT),
    )
    done = subprocess.run(
        [sys.executable, "-m", "awscli", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


async def test_aws_cli_runs_credential_process_over_ble_then_from_cache(
    fake_bluez: FakeBluezHandle,
    gateway: GatewayProcess,
    nonce_exchange: RunningExchange,
    moto_server: str,
    home: Path,
) -> None:
    """The real AWS CLI gets credentials over BLE once; the next call costs no air traffic."""
    config = home / "aws" / "config"
    config.parent.mkdir(parents=True)
    config.write_text(
        "[profile gw]\n"
        f"credential_process = {sys.executable} -m endorse_ble.central credential-process "
        "--profile gw "
        f"--exchange-url {nonce_exchange.url} --adapter hci1\n"
    )
    await fake_bluez.control.reset_counters()
    first = aws_cli(home, fake_bluez, moto_server, "--profile", "gw", "sts", "get-caller-identity")
    assert first.returncode == 0, first.stderr
    assert "assumed-role" in json.loads(first.stdout)["Arn"]
    assert await air_requests(fake_bluez) > 0

    await fake_bluez.control.reset_counters()
    second = aws_cli(home, fake_bluez, moto_server, "--profile", "gw", "sts", "get-caller-identity")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["Arn"] == json.loads(first.stdout)["Arn"]
    assert await air_requests(fake_bluez) == 0

    logout = await laptop(fake_bluez, home, "logout", "--profile", "gw")
    assert logout.returncode == 0, logout.stderr
    third = aws_cli(home, fake_bluez, moto_server, "--profile", "gw", "sts", "get-caller-identity")
    assert third.returncode == 0, third.stderr
    assert await air_requests(fake_bluez) > 0


async def test_no_gateway_is_a_one_line_error(fake_bluez: FakeBluezHandle, home: Path) -> None:
    """With nothing advertising, commands fail fast with one line of advice (exit 3)."""
    result = await laptop(fake_bluez, home, "token", "--adapter", "hci1", "--scan-timeout", "1")
    assert result.returncode == 3
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no gateway" in result.stderr
