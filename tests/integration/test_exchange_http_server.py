"""The local server's HTTP behaviour under waitress: early 413 with draining, a total
deadline per request, and framing left to the server."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from endorse_ble.exchange.app import build_app
from endorse_ble.exchange.config import load_config_file
from endorse_ble.exchange.http_server import ExchangeServer

MIB = 1024 * 1024


@pytest.fixture
def server(exchange_config_file: Callable[..., Path]) -> Iterator[ExchangeServer]:
    """A running local server with a 1 s request deadline."""
    extra = "[server]\nrequest_deadline_seconds = 1\nidle_timeout_seconds = 30\n"
    config = load_config_file(exchange_config_file(extra=extra))
    running = ExchangeServer(build_app(config), config, "127.0.0.1", 0)
    running.start()
    yield running
    running.stop()


def _exchange(port: int, head: bytes, body: bytes = b"") -> bytes:
    """Send ``head`` and ``body`` in full, then read the whole answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _status_and_json(answer: bytes) -> tuple[int, dict[str, str]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def test_a_client_writing_a_1mib_body_first_reads_the_413(server: ExchangeServer) -> None:
    """Twenty times over, the whole body is written before reading: always the JSON 413."""
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: %d\r\n\r\n" % MIB
    for _ in range(20):
        status, answer = _status_and_json(_exchange(server.port, head, b"{" * MIB))
        assert (status, answer["error"]) == (413, "request_too_large")


def test_expect_100_continue_gets_the_413_without_a_100(server: ExchangeServer) -> None:
    """An oversized body announced with Expect is refused before any 100 Continue."""
    head = b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
    head += b"Content-Length: %d\r\n\r\n" % MIB
    answer = _exchange(server.port, head)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in answer


def test_a_dribbled_request_is_cut_by_the_total_deadline(server: ExchangeServer) -> None:
    """A request sent a byte at a time (never idle long) is closed past the deadline."""
    request = b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 400\r\n\r\n{"token": "' + b"a" * 400
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.settimeout(0.1)
        answer = b""
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
                answer = sock.recv(4096)
            except TimeoutError:
                continue  # still open and silent: dribble on
            except OSError:
                answer = b""
            break  # the server answered or closed
        elapsed = time.monotonic() - started
    assert answer == b""
    # Deadline 1 s, checked every second; the idle timeout (30 s) and the whole dribble
    # (about 46 s) are far beyond this bound, so only the deadline can have cut it.
    assert elapsed < 15.0


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 405 "),
        (b"OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 405 "),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n{}", b"HTTP/1.1 400 "),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1_2\r\n\r\n{}", b"HTTP/1.1 400 "),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            b"HTTP/1.1 400 ",
        ),
    ],
    ids=["head", "options", "plus-length", "underscore-length", "two-lengths"],
)
def test_framing_is_the_servers(server: ExchangeServer, head: bytes, expected: bytes) -> None:
    """HEAD gets a 405 without a body; malformed Content-Length never reaches the app."""
    answer = _exchange(
        server.port, head.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n")
    )
    assert answer.startswith(expected), answer[:200]
    if head.startswith(b"HEAD"):
        assert answer.endswith(b"\r\n\r\n")
    if head.startswith(b"OPTIONS"):
        assert b"Allow: POST" in answer


def test_stop_closes_the_wake_up_pipe_only_after_the_workers(
    exchange_config_file: Callable[..., Path],
) -> None:
    """A worker still finishing a request when stop() closes the connections writes to
    the loop's wake-up pipe as it ends: the pipe stays open (its numbers still its own,
    not another file's) until the workers are done, and is closed then."""
    finishing, release = threading.Event(), threading.Event()

    class SlowToFinish:
        def __iter__(self) -> Iterator[bytes]:
            yield b"{}"

        def close(self) -> None:  # WSGI: called by the worker once the body is written
            finishing.set()
            release.wait(30)

    def app(environ: dict[str, object], start_response: Callable[..., object]) -> SlowToFinish:
        start_response("200 OK", [("Content-Type", "application/json")])
        return SlowToFinish()

    config = load_config_file(exchange_config_file())
    server = ExchangeServer(app, config, "127.0.0.1", 0)  # type: ignore[arg-type]
    server.start()
    loop, wake = server._thread, server._server.trigger.trigger
    pipe = os.fstat(wake)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}")
        assert finishing.wait(30)
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        try:
            assert loop is not None
            loop.join(30)  # the connections are closed and the loop has ended
            assert not loop.is_alive()
            assert _same_file(wake, pipe)
        finally:
            release.set()
            stopper.join(30)
    assert not stopper.is_alive()
    assert not _same_file(wake, pipe)


def _same_file(fd: int, known: os.stat_result) -> bool:
    """Whether descriptor ``fd`` is open on the file ``known`` describes."""
    try:
        now = os.fstat(fd)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (known.st_dev, known.st_ino)
