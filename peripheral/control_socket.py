"""The daemon's local control socket, and the client ``endorse-peripheral pair`` uses.

Why a unix socket in the unit's RuntimeDirectory (``/run/endorse-ble/control.sock``):
the unit allows AF_UNIX already and nothing else local (no D-Bus name of our own, which
would need its own bus policy and lets any local user try it); the file's owner and mode
(0660, endorse-ble, in a 0750 directory) are the access control, so root and members of
the endorse-ble group may open a pairing window and nobody else may; systemd creates and
removes the directory with the service. Requests are one short line each
(peripheral.control_protocol); every read has a deadline, so a client that connects and
says nothing holds nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from endorse_ble.peripheral.control_protocol import (
    MAX_REPLY_BYTES,
    MAX_REQUEST_BYTES,
    ControlRequestError,
    Reply,
    Request,
    format_reply,
    format_request,
    parse_reply,
    parse_request,
)
from endorse_ble.peripheral.errors import PeripheralError

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
#: Where systemd's RuntimeDirectory=endorse-ble puts it (the unit sets $RUNTIME_DIRECTORY).
DEFAULT_RUNTIME_DIRECTORY = "/run/endorse-ble"
DEFAULT_SOCKET = f"{DEFAULT_RUNTIME_DIRECTORY}/{SOCKET_NAME}"
#: A client has this long to send its line; the daemon this long to answer it.
READ_DEADLINE_SECONDS = 2.0
#: Longer than any BlueZ call chain the daemon makes for one request (a few 5 s calls).
REPLY_DEADLINE_SECONDS = 30.0
SOCKET_MODE = 0o660

Handler = Callable[[Request], Awaitable[Reply]]


class ControlSocketError(PeripheralError):
    """The control socket cannot be served or reached; ``str`` is one line."""


def socket_path(environ: dict[str, str] | os._Environ[str] | None = None) -> str:
    """The daemon's socket: in $RUNTIME_DIRECTORY (systemd sets it from RuntimeDirectory=;
    the first one when several are listed), else the unit's default."""
    env = os.environ if environ is None else environ
    directory = env.get("RUNTIME_DIRECTORY", "").split(":")[0] or DEFAULT_RUNTIME_DIRECTORY
    return str(Path(directory) / SOCKET_NAME)


class ControlServer:
    """Serves :data:`Handler` on a unix socket at ``path`` until :meth:`stop`."""

    def __init__(
        self, path: str, handler: Handler, read_deadline: float = READ_DEADLINE_SECONDS
    ) -> None:
        self._path = path
        self._handler = handler
        self._deadline = read_deadline
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        directory = Path(self._path).parent
        if not directory.is_dir():
            raise ControlSocketError(
                f"no directory {directory} for the control socket (RuntimeDirectory= in the unit)"
            )
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(self._path).st_mode):
                os.unlink(self._path)  # left by a daemon that was killed
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, self._path, limit=MAX_REQUEST_BYTES + 1
            )
            os.chmod(self._path, SOCKET_MODE)
        except OSError as exc:
            raise ControlSocketError(f"cannot listen on {self._path}: {exc.strerror}") from exc
        log.info("control socket at %s", self._path)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), READ_DEADLINE_SECONDS)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                async with asyncio.timeout(self._deadline):
                    line = await reader.readuntil(b"\n")
                request = parse_request(line)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                reply = Reply(False, "request not understood (one line of at most 64 bytes)")
            except TimeoutError:
                reply = Reply(False, f"no request within {self._deadline:g} s")
            except ControlRequestError as exc:
                reply = Reply(False, str(exc))
            else:
                reply = await self._handler(request)
            writer.write(format_reply(reply))
            async with asyncio.timeout(self._deadline):
                await writer.drain()
        except (OSError, TimeoutError) as exc:
            log.info("control client went away: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(self._deadline):
                    await writer.wait_closed()


def ask(path: str, request: Request, deadline: float = REPLY_DEADLINE_SECONDS) -> Reply:
    """Send ``request`` to the daemon at ``path`` and return its reply (blocking, bounded
    by ``deadline`` in all); ControlSocketError in one line when it cannot."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(deadline)
        try:
            sock.connect(path)
        except FileNotFoundError:
            raise ControlSocketError(
                f"{path} does not exist: is endorse-peripheral running? "
                "(systemctl status endorse-peripheral)"
            ) from None
        except ConnectionRefusedError:
            raise ControlSocketError(
                f"nothing listens on {path}: is endorse-peripheral running?"
            ) from None
        except PermissionError:
            raise ControlSocketError(
                f"no permission to use {path}: run as root or as a member of group endorse-ble"
            ) from None
        except OSError as exc:
            raise ControlSocketError(f"cannot reach {path}: {exc.strerror or exc}") from None
        try:
            sock.sendall(format_request(request))
            reply = _read_line(sock, time.monotonic() + deadline)
        except TimeoutError:
            raise ControlSocketError(f"the daemon did not answer within {deadline:g} s") from None
        except OSError as exc:
            raise ControlSocketError(f"lost the connection to the daemon: {exc}") from None
    try:
        return parse_reply(reply)
    except ControlRequestError as exc:
        raise ControlSocketError(str(exc)) from None


def _read_line(sock: socket.socket, deadline: float) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("the daemon closed the connection without a reply")
        data += chunk
        if len(data) > MAX_REPLY_BYTES:
            raise OSError("the daemon's reply is too long")
    return data
