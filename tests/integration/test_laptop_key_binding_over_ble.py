"""Key binding on the testbed: an enrolled laptop gets credentials through the real AWS CLI
over BLE from an exchange that requires binding; a laptop without the key does not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from endorse_ble.testbed.bluez.harness import FakeBluezHandle
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.endorse_keys import SimIdentity
from endorse_ble.testbed.exchange.pytest_fixtures import (
    RunningExchange,
    exchange_config_toml,
    start_local_exchange,
    stop_local_exchange,
)
from endorse_ble.testbed.gateway.process import GatewayProcess
from endorse_ble.tokenlink.key_binding import is_thumbprint
from tests.central_cli import user_env
from tests.integration.test_laptop_over_ble import GATEWAY, ROOT, air_requests, aws_cli, laptop

pytestmark = pytest.mark.integration

AWS_CALL = ("--profile", "gw", "sts", "get-caller-identity")


@pytest.fixture
def laptop_home(tmp_path: Path) -> Path:
    """The enrolled laptop's HOME: its key is in a 0600 file (no keyring here)."""
    home = tmp_path / "laptop"
    home.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "endorse_ble.central", "enroll", "--profile", "gw"],
        cwd=ROOT,
        env={**user_env(home), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    jkt_line, allow_line = done.stdout.splitlines()
    assert is_thumbprint(jkt_line.removeprefix("jkt="))
    assert allow_line == f'laptops = ["{jkt_line.removeprefix("jkt=")}"]'
    (home / "jkt").write_text(jkt_line.removeprefix("jkt="))
    return home


@pytest.fixture
def bound_exchange(
    endorse_sim: EndorseSimulator,
    moto_server: str,
    aws_test_env: dict[str, str],
    tmp_path: Path,
    laptop_home: Path,
) -> Iterator[RunningExchange]:
    """An exchange requiring a nonce and key binding, the laptop's key enrolled for the SIM."""
    sim = SimIdentity()
    config = tmp_path / "exchange.toml"
    config.write_text(
        exchange_config_toml(
            keystore_url=endorse_sim.keystore_url,
            aws_endpoint_url=moto_server,
            require_nonce=True,
            require_key_binding=True,
            allow=[
                {
                    "imsi": sim.imsi,
                    "imei": sim.imei,
                    "laptops": [(laptop_home / "jkt").read_text()],
                }
            ],
        )
    )
    env = {**os.environ, **aws_test_env, "AWS_ENDPOINT_URL": moto_server}
    running = start_local_exchange(config, env)
    yield running
    stop_local_exchange(running)


async def test_enrolled_laptop_gets_credentials_through_the_aws_cli(
    fake_bluez: FakeBluezHandle,
    gateway: GatewayProcess,
    bound_exchange: RunningExchange,
    moto_server: str,
    laptop_home: Path,
    tmp_path: Path,
) -> None:
    """credential_process with binding required: the first AWS CLI call goes over BLE with a
    key-bound nonce and a proof; the second is served from the cache; the exchange logs the
    key; a second laptop without the key is refused."""
    jkt = (laptop_home / "jkt").read_text()
    config = laptop_home / "aws" / "config"
    config.parent.mkdir(parents=True)
    config.write_text(
        "[profile gw]\n"
        f"credential_process = {sys.executable} -m endorse_ble.central credential-process "
        f"--profile gw --exchange-url {bound_exchange.url} --adapter hci1\n"
    )
    await fake_bluez.control.reset_counters()
    first = aws_cli(laptop_home, fake_bluez, moto_server, *AWS_CALL)
    assert first.returncode == 0, first.stderr
    assert "assumed-role" in json.loads(first.stdout)["Arn"]
    assert await air_requests(fake_bluez) > 0
    assert any(f"jkt={jkt}" in line for line in bound_exchange.stderr_lines)

    await fake_bluez.control.reset_counters()
    second = aws_cli(laptop_home, fake_bluez, moto_server, *AWS_CALL)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["Arn"] == json.loads(first.stdout)["Arn"]
    assert await air_requests(fake_bluez) == 0

    stranger = tmp_path / "stranger"
    stranger.mkdir()
    refused = await laptop(
        fake_bluez, stranger, "credentials", *GATEWAY, "--exchange-url", bound_exchange.url
    )
    assert refused.returncode == 4, refused.stderr
    assert refused.stdout == ""
    assert "key_binding_required" in refused.stderr and "enroll" in refused.stderr

    status = await laptop(fake_bluez, laptop_home, "status", *GATEWAY, "--profile", "gw", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["laptop_key"] == {"name": "gw", "enrolled": True, "jkt": jkt}
