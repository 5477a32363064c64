"""The control socket on a real unix socket: what a client gets, whatever it sends."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from endorse_ble.peripheral.control_protocol import (
    ListBondsRequest,
    Reply,
    Request,
    parse_reply,
)
from endorse_ble.peripheral.control_socket import (
    ControlServer,
    ControlSocketError,
    ask,
    socket_path,
)

DEADLINE = 0.2


@pytest.fixture
async def served() -> AsyncIterator[tuple[Path, list[Request]]]:
    seen: list[Request] = []

    async def handler(request: Request) -> Reply:
        seen.append(request)
        return Reply(True, "done")

    # A short path: sun_path is limited to 108 bytes.
    with tempfile.TemporaryDirectory(prefix="ctl-") as directory:
        path = Path(directory) / "control.sock"
        with socket.socket(socket.AF_UNIX) as stale:  # left by a killed daemon
            stale.bind(str(path))
        server = ControlServer(str(path), handler, read_deadline=DEADLINE)
        await server.start()
        yield path, seen
        await server.stop()
        assert not path.exists()


async def _raw(path: Path, data: bytes, close_after_send: bool = False) -> Reply:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(data)
    if close_after_send:
        writer.write_eof()
    line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    await writer.wait_closed()
    return parse_reply(line)


async def test_a_request_reaches_the_handler(served: tuple[Path, list[Request]]) -> None:
    path, seen = served
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
    reply = await asyncio.to_thread(ask, str(path), ListBondsRequest())
    assert reply == Reply(True, "done") and seen == [ListBondsRequest()]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "no request within"),  # connects and says nothing
        (b"OPEN 5", "not understood"),  # no newline, then EOF
        (b"X" * 200 + b"\n", "not understood"),
        (b"OPEN 9999\n", "1-600 seconds"),
        (b"\xff\xfe\n", "not ASCII"),
    ],
)
async def test_a_bad_client_gets_one_line_and_reaches_nothing(
    served: tuple[Path, list[Request]], data: bytes, words: str
) -> None:
    path, seen = served
    reply = await _raw(path, data, close_after_send=data == b"OPEN 5")
    assert not reply.ok and words in reply.message and seen == []


def test_no_daemon_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ControlSocketError, match="is endorse-peripheral running"):
        ask(str(tmp_path / "control.sock"), ListBondsRequest())
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "dead.sock"))  # bound, nobody listening
        with pytest.raises(ControlSocketError, match="nothing listens"):
            ask(str(tmp_path / "dead.sock"), ListBondsRequest())


def test_the_socket_lives_in_the_runtime_directory() -> None:
    assert socket_path({"RUNTIME_DIRECTORY": "/run/x:/run/y"}) == "/run/x/control.sock"
    assert socket_path({}) == "/run/endorse-ble/control.sock"
