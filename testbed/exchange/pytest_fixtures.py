"""Pytest plugin: moto (STS + DynamoDB), exchange configs and a running local exchange.

Reused by the exchange's own tests, the laptop CLI's tests and the demo. Nothing here can
reach real AWS: credentials are dummies, shared config files are hidden, instance metadata
is off, and ``AWS_ENDPOINT_URL`` points every SDK client at the local moto server.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from endorse_ble.testbed.aws.env import AWS_TEST_ENV, TEST_REGION, TEST_ROLE_ARN
from endorse_ble.testbed.aws.env import AWS_UNSET as _AWS_UNSET
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.endorse_keys import SimIdentity


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (for "AWS is down" cases)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def exchange_config_toml(
    *,
    keystore_url: str,
    aws_endpoint_url: str,
    allow: list[dict[str, str | list[str]]] | None = None,
    default_role_arn: str | None = TEST_ROLE_ARN,
    replay_backend: str = "memory",
    replay_table: str = "endorse-exchange-replay",
    require_nonce: bool = False,
    require_key_binding: bool = False,
    keystore_options: dict[str, int | float] | None = None,
    extra: str = "",
) -> str:
    """TOML for an exchange wired to a local keystore and moto.

    ``allow`` defaults to the testbed's default SIM, bound to its IMEI (a list value, such as
    ``laptops``, becomes a TOML array). ``extra`` is appended verbatim (more tables or
    keys); ``keystore_options`` adds [keystore] keys.
    """
    sim = SimIdentity()
    entries: list[dict[str, str | list[str]]] = (
        allow if allow is not None else [{"imsi": sim.imsi, "imei": sim.imei}]
    )
    lines = [
        "[keystore]",
        f'url = "{keystore_url}"',
        *(f"{key} = {value}" for key, value in (keystore_options or {}).items()),
        "[token]",
        f"require_nonce = {'true' if require_nonce else 'false'}",
        f"require_key_binding = {'true' if require_key_binding else 'false'}",
        "[credentials]",
        "duration_seconds = 900",
    ]
    if default_role_arn is not None:
        lines.append(f'default_role_arn = "{default_role_arn}"')
    lines += [
        "[replay]",
        f'backend = "{replay_backend}"',
        f'table = "{replay_table}"',
        "[aws]",
        f'region = "{TEST_REGION}"',
        f'endpoint_url = "{aws_endpoint_url}"',
        "max_attempts = 1",
        "connect_timeout_seconds = 2",
        "read_timeout_seconds = 5",
    ]
    for entry in entries:
        lines.append("[[allow]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in entry.items()]
    return "\n".join(lines) + "\n" + extra


@pytest.fixture(scope="session")
def aws_test_env() -> Iterator[dict[str, str]]:
    """Dummy AWS credentials in os.environ for the session (never real ones)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in _AWS_UNSET:
            mp.delenv(name, raising=False)
        for name, value in AWS_TEST_ENV.items():
            mp.setenv(name, value)
        yield dict(AWS_TEST_ENV)


@pytest.fixture(scope="session")
def moto_server(aws_test_env: dict[str, str]) -> Iterator[str]:
    """A moto server (STS, DynamoDB, ...) on 127.0.0.1; yields its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as mp:
        # Any client built without endpoint_url still lands on moto, never on AWS.
        mp.setenv("AWS_ENDPOINT_URL", url)
        yield url
    server.stop()


def _create_table(endpoint_url: str, prefix: str, key: str) -> str:
    """A fresh pay-per-request DynamoDB table in moto keyed by the string ``key``."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    client = boto3.client("dynamodb", endpoint_url=endpoint_url, region_name=TEST_REGION)
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.fixture
def replay_table(moto_server: str) -> str:
    """A fresh DynamoDB replay table (``jti`` key, ``expires_at`` TTL) in moto."""
    name = _create_table(moto_server, "replay", "jti")
    client = boto3.client("dynamodb", endpoint_url=moto_server, region_name=TEST_REGION)
    client.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )
    return name


@pytest.fixture
def allowlist_table(moto_server: str) -> str:
    """A fresh DynamoDB allowlist table (``imsi`` key) in moto."""
    return _create_table(moto_server, "allowlist", "imsi")


@pytest.fixture(scope="session")
def exchange_endorse() -> Iterator[EndorseSimulator]:
    """One Endorse simulator (signer + keystore) shared by the session's exchange tests.

    Tests that change its fault modes must restore them; use ``endorse_sim`` for a private one.
    """
    with EndorseSimulator() as sim:
        yield sim


@pytest.fixture
def exchange_config_file(
    tmp_path: Path, exchange_endorse: EndorseSimulator, moto_server: str
) -> Callable[..., Path]:
    """A factory writing an exchange TOML (see :func:`exchange_config_toml`) to tmp_path.

    Defaults: the shared simulator's keystore, moto, the default SIM allowed.
    """
    counter = iter(range(1_000_000))

    def make(**overrides: Any) -> Path:
        options: dict[str, Any] = {
            "keystore_url": exchange_endorse.keystore_url,
            "aws_endpoint_url": moto_server,
        }
        options.update(overrides)
        path = tmp_path / f"exchange-{next(counter)}.toml"
        path.write_text(exchange_config_toml(**options), encoding="utf-8")
        return path

    return make


@dataclass
class RunningExchange:
    """A ``python -m endorse_ble.exchange serve`` process: its URL and its stderr lines."""

    url: str
    process: subprocess.Popen[str]
    stderr_lines: list[str]
    readers: list[threading.Thread]


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def start_local_exchange(
    config: Path, env: dict[str, str], timeout: float = 30.0
) -> RunningExchange:
    """Start ``python -m endorse_ble.exchange serve --config CONFIG --port 0``; wait for READY."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "endorse_ble.exchange",
            "serve",
            "--config",
            str(config),
            "--verbose",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None and process.stderr is not None
    stderr_lines: list[str] = []
    out: queue.Queue[str | None] = queue.Queue()
    readers = [
        threading.Thread(target=lambda: stderr_lines.extend(process.stderr or ()), daemon=True),
        threading.Thread(target=_pump, args=(process.stdout, out), daemon=True),
    ]
    for reader in readers:
        reader.start()
    running = RunningExchange("", process, stderr_lines, readers)
    url = None
    while True:
        try:
            line = out.get(timeout=timeout)
        except queue.Empty:
            stop_local_exchange(running)
            raise RuntimeError("the exchange did not print READY in time") from None
        if line is None:
            stop_local_exchange(running)
            raise RuntimeError(f"the exchange exited early: {''.join(stderr_lines)}")
        if line.startswith("EXCHANGE_URL="):
            url = line.strip().split("=", 1)[1]
        elif line.strip() == "READY" and url is not None:
            running.url = url
            return running


def stop_local_exchange(running: RunningExchange) -> int:
    """SIGTERM the exchange, collect its output and return its exit code (idempotent)."""
    process = running.process
    if process.poll() is None:
        process.terminate()
    try:
        code = process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        code = process.wait()
    for reader in running.readers:
        reader.join(timeout=5)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    return code


@pytest.fixture
def local_exchange(
    exchange_config_file: Callable[..., Path], aws_test_env: dict[str, str], moto_server: str
) -> Iterator[RunningExchange]:
    """A running ``endorse-exchange serve`` with the default test config (memory replay)."""
    env = dict(os.environ)
    env.update(aws_test_env)
    env["AWS_ENDPOINT_URL"] = moto_server
    running = start_local_exchange(exchange_config_file(), env)
    yield running
    stop_local_exchange(running)


@pytest.fixture
def nonce_exchange(
    endorse_sim: EndorseSimulator,
    moto_server: str,
    aws_test_env: dict[str, str],
    tmp_path: Path,
) -> Iterator[RunningExchange]:
    """The exchange trusting the gateway's Endorse keystore, demanding a nonce."""
    config = tmp_path / "exchange.toml"
    config.write_text(
        exchange_config_toml(
            keystore_url=endorse_sim.keystore_url, aws_endpoint_url=moto_server, require_nonce=True
        )
    )
    env = {**os.environ, **aws_test_env, "AWS_ENDPOINT_URL": moto_server}
    running = start_local_exchange(config, env)
    yield running
    stop_local_exchange(running)
