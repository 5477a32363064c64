"""``python -m endorse_ble.exchange serve`` as a process: READY line, real requests, clean stop."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.endorse_keys import SimIdentity
from endorse_ble.testbed.exchange.pytest_fixtures import RunningExchange, stop_local_exchange


def post(
    url: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str]]:
    """POST ``body`` to the exchange at ``url``."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request("POST", "/", body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_serves_credentials_and_stops_on_sigterm(
    local_exchange: RunningExchange, exchange_endorse: EndorseSimulator
) -> None:
    """The process answers 200 then 409 for one token, never logs it, and exits 0 on SIGTERM."""
    assert local_exchange.url.startswith("http://127.0.0.1:")
    token = exchange_endorse.signer.mint(SimIdentity())
    status, answer = post(local_exchange.url, json.dumps({"token": token}).encode())
    assert status == 200, answer
    status, answer = post(local_exchange.url, json.dumps({"token": token}).encode())
    assert (status, answer["error"]) == (409, "token_replayed")
    assert stop_local_exchange(local_exchange) == 0
    log = "".join(local_exchange.stderr_lines)
    assert "refused token len=" in log
    assert token not in log
    audit = [json.loads(line) for line in local_exchange.stderr_lines if line.startswith("{")]
    assert [(a["outcome"], a["status"]) for a in audit] == [
        ("issued", 200),
        ("token_replayed", 409),
    ]
    assert {a["imsi"] for a in audit} == {SimIdentity().imsi}


def test_refuses_an_oversized_body_from_its_header(local_exchange: RunningExchange) -> None:
    """A Content-Length above the limit gets 413 without the body being sent."""
    parts = urlsplit(local_exchange.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.putrequest("POST", "/")
        conn.putheader("Content-Length", str(1024 * 1024))
        conn.endheaders()
        response = conn.getresponse()
        assert (response.status, json.loads(response.read())["error"]) == (
            413,
            "request_too_large",
        )
    finally:
        conn.close()


ONE_MIB = 1024 * 1024
TRIES = 200


def _oversized_post(url: str, piece: int, pause: float) -> bytes:
    """POST a whole 1 MiB body over a raw socket, ``piece`` bytes at a time, THEN read.

    A client such as requests writes its whole body before reading; a server that answers
    from the header and closes with the body unread makes the kernel reset the connection,
    and the 413 already sent is lost (ECONNRESET or EPIPE on the client).
    """
    parts = urlsplit(url)
    head = (
        f"POST / HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {ONE_MIB}\r\n\r\n"
    ).encode()
    body = b"A" * ONE_MIB
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head)
        for start in range(0, ONE_MIB, piece):
            sock.sendall(body[start : start + piece])
            if pause:
                time.sleep(pause)  # the pacing of a slow uplink is what is tested
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    ("piece", "pause"), [(ONE_MIB, 0.0), (64 * 1024, 0.002)], ids=["whole-body", "64KiB-pieces"]
)
def test_a_client_that_sends_an_oversized_body_first_still_reads_its_413(
    local_exchange: RunningExchange, piece: int, pause: float
) -> None:
    """The 413 survives a body written in full before the answer is read, every time.

    Eight clients at once keep the 200 tries short and the server's threads busy.
    """
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(lambda _: _oversized_post(local_exchange.url, piece, pause), range(TRIES))
        )
    for attempt, answer in enumerate(answers):
        assert answer.startswith(b"HTTP/1.1 413 "), (attempt, answer[:200])
        assert b'"request_too_large"' in answer, (attempt, answer[:200])


def test_unknown_path_is_404(local_exchange: RunningExchange) -> None:
    """Only / is served."""
    parts = urlsplit(local_exchange.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("POST", "/admin", body=b"{}")
        response = conn.getresponse()
        assert (response.status, json.loads(response.read())["error"]) == (404, "not_found")
    finally:
        conn.close()


def test_refuses_a_non_loopback_host(exchange_config_file: Callable[..., Path]) -> None:
    """Plain HTTP off the machine is refused with exit code 2."""
    result = subprocess.run(
        [sys.executable, "-m", "endorse_ble.exchange", "serve",
         "--config", str(exchange_config_file()), "--host", "0.0.0.0"],  # noqa: S104 - the address being refused
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "non-loopback" in result.stderr
    assert "READY" not in result.stdout


def test_bad_config_exits_2(tmp_path: Path) -> None:
    """A config naming an http keystore off loopback is refused before listening."""
    path = tmp_path / "bad.toml"
    path.write_text('[keystore]\nurl = "http://keys.example/"\n')
    result = subprocess.run(
        [sys.executable, "-m", "endorse_ble.exchange", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "keystore.url" in result.stderr


def test_warns_when_nobody_is_allowed_and_no_role_is_set(
    exchange_config_file: Callable[..., Path], aws_test_env: dict[str, str], moto_server: str
) -> None:
    """An empty allowlist and no default role still serve, after one warning line each."""
    import os

    from endorse_ble.testbed.exchange.pytest_fixtures import start_local_exchange

    env = dict(os.environ)
    running = start_local_exchange(exchange_config_file(allow=[], default_role_arn=None), env)
    assert stop_local_exchange(running) == 0
    log = "".join(running.stderr_lines)
    assert "warning: nobody is allowed" in log
    assert "warning: no role is set" in log


def test_check_config_refuses_role_chaining_past_an_hour(tmp_path: Path) -> None:
    """With --lambda, 7200 s is refused naming role chaining; 3600 s is fine."""
    path = tmp_path / "exchange.toml"
    path.write_text("[credentials]\nduration_seconds = 7200\n")
    command = [sys.executable, "-m", "endorse_ble.exchange", "check-config", "--config", str(path)]
    assert subprocess.run(command, capture_output=True, timeout=30).returncode == 0
    refused = subprocess.run([*command, "--lambda"], capture_output=True, text=True, timeout=30)
    assert refused.returncode == 2
    assert "role chaining" in refused.stderr
    path.write_text("[credentials]\nduration_seconds = 3600\n")
    assert subprocess.run([*command, "--lambda"], capture_output=True, timeout=30).returncode == 0
