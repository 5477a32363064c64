"""Total deadlines on the laptop: an exchange that trickles its answer, Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from endorse_ble.central import credential_process_cmd
from endorse_ble.central.errors import ExchangeClientError, ExchangeFailure
from endorse_ble.central.exchange_client import ExchangeClient
from endorse_ble.testbed.endorse_keys import EndorseSigner
from tests.central_cli import parse, signer_source, user_env

ROOT = Path(__file__).resolve().parents[2]


class _Trickle(BaseHTTPRequestHandler):
    """Answers HEAD at once (the exchange is up), then a POST one byte every 0.2 s."""

    server: _TrickleServer

    def do_HEAD(self) -> None:
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        while not self.server.stopping.wait(0.2):
            try:
                self.wfile.write(b" ")
                self.wfile.flush()
            except OSError:
                return

    def log_message(self, format: str, *args: object) -> None:
        pass


class _TrickleServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Trickle)
        self.stopping = threading.Event()


@pytest.fixture
def trickling_exchange() -> Iterator[str]:
    server = _TrickleServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()


def test_a_trickling_answer_ends_at_the_total_deadline(trickling_exchange: str) -> None:
    """requests' timeouts are per read; the whole call still ends at --exchange-timeout."""
    started = time.monotonic()
    with (
        ExchangeClient(trickling_exchange, timeout=1.0) as client,
        pytest.raises(ExchangeClientError) as caught,
    ):
        client.exchange("x.y.z", "nonce-AAAAAAAA")
    assert caught.value.reason is ExchangeFailure.TIMEOUT
    assert time.monotonic() - started < 1.0 + 2.0


def test_parallel_runs_are_not_held_past_their_deadlines(
    trickling_exchange: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two credential-process runs for one profile against a trickling exchange: the first
    ends at its deadline (exit 5, one line), the one waiting for it right after."""
    for key, value in user_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    argv = ["--profile", "gw", "--exchange-url", trickling_exchange, "--exchange-timeout", "1"]
    codes: list[int] = []

    def run() -> None:
        source = signer_source(EndorseSigner())
        codes.append(credential_process_cmd.execute(parse(CMD, argv), token_source=source))

    started = time.monotonic()
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert codes == [5, 5]
    assert time.monotonic() - started < 2 * 1.0 + 4.0


CMD = "endorse_ble.central.credential_process_cmd"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child")
def test_ctrl_c_in_credential_process_is_one_line(tmp_path: Path) -> None:
    """Ctrl-C while waiting (here, for the gateway lock) prints one line, exit 130."""
    env = user_env(tmp_path)
    cache = tmp_path / "cache" / "endorse-ble" / "credentials"
    cache.mkdir(parents=True, mode=0o700)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600);"
            " fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
            str(cache / "gw.lock"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    with holder:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with (
            _sigint_reaches_children(),
            subprocess.Popen(
                [
                    # the console entry point pip put beside this Python
                    str(Path(sys.executable).parent / "endorse-credential-process"),
                    "--profile",
                    "gw",
                    "--exchange-url",
                    "http://127.0.0.1:9/",
                ],
                env={**env, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ) as proc,
        ):
            deadline = time.monotonic() + 30
            while not _waits_on_lock(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)  # polling /proc for the child's state: no event to await
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        assert holder.stdin is not None
        holder.stdin.close()
    assert proc.returncode == 130
    assert out == ""
    assert err == "endorse-credential-process: interrupted\n"


@contextlib.contextmanager
def _sigint_reaches_children() -> Iterator[None]:
    """Children started inside get SIGINT's default action, as a terminal's foreground job
    does, even when this test runs with SIGINT ignored (a background job of a
    non-interactive shell, e.g. ``make stress &``): an ignored signal stays ignored across
    exec, while a handled one is reset to its default."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _waits_on_lock(pid: int) -> bool:
    """Whether ``pid`` holds an open descriptor on a ``.lock`` file (it reached the lock)."""
    try:
        return any(
            os.readlink(f"/proc/{pid}/fd/{fd}").endswith(".lock")
            for fd in os.listdir(f"/proc/{pid}/fd")
        )
    except OSError:
        return False
