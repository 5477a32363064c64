"""``endorse-exchange serve``: the exchange API over plain HTTP on a loopback address.

For testers, the demo and a laptop that runs its own exchange. Plain HTTP carries bearer
tokens and AWS secrets, so only loopback addresses are accepted. Prints
``EXCHANGE_URL=http://HOST:PORT/`` then ``READY`` on stdout once it accepts connections;
stops cleanly on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from endorse_ble.exchange.app import build_service
from endorse_ble.exchange.config import load_config_file
from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.exchange.service import ExchangeService, HttpRequest, error_response
from endorse_ble.tokenlink.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from endorse_ble.tokenlink.key_binding import PROOF_HEADER
from endorse_ble.tokenlink.net import is_loopback_host

log = logging.getLogger(__name__)

#: The request path of the API (API Gateway maps its own route to the handler).
API_PATH = "/"
# Slow clients may hold a thread this long at most (a slowloris defence).
_SOCKET_TIMEOUT = 10.0
# After refusing an oversized body, at most this much of it is read and thrown away, for
# at most this long: closing with the body unread would make the kernel reset the
# connection and lose the 413 for a client that writes its whole body before reading.
_DRAIN_BYTES = 8 * 1024 * 1024
_DRAIN_SECONDS = 3.0


class _Handler(BaseHTTPRequestHandler):
    server: ExchangeHTTPServer
    timeout = _SOCKET_TIMEOUT
    protocol_version = "HTTP/1.1"
    server_version = "endorse-exchange"
    sys_version = ""

    def _send(self, status: int, body: dict[str, Any], close: bool = False) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def _refuse(self, code: ErrorCode, message: str, close: bool = True) -> None:
        self._send(*error_response(ExchangeError(code, message)), close=close)

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != API_PATH:
            self._refuse(ErrorCode.NOT_FOUND, "no such path; POST to /")
            return
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._refuse(ErrorCode.MALFORMED_REQUEST, "send a Content-Length, not chunks")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._refuse(ErrorCode.MALFORMED_REQUEST, "a Content-Length is required")
            return
        limit = self.server.max_body_bytes
        if length < 0 or length > limit:
            # Refused from the header alone: the body is never read into memory.
            self._refuse(ErrorCode.REQUEST_TOO_LARGE, f"the body exceeds {limit} bytes")
            self._drain(length)
            return
        body = self.rfile.read(length)
        request = HttpRequest(
            "POST", body, self._arrival_url(), tuple(self.headers.get_all(PROOF_HEADER, ()))
        )
        self._send(*self.server.service.handle(request))

    def _arrival_url(self) -> str:
        # The URL as the client addressed it, which a proof's htu names: its Host header
        # when that names a loopback host on our port (127.0.0.1, localhost, [::1] all reach
        # this server), else our own address, so a Host header cannot pose as another site.
        base = self.server.url
        host = self.headers.get("Host", "")
        try:
            named = urlsplit(f"http://{host}/")
            if is_loopback_host(named.hostname or "") and named.port == self.server.port:
                base = f"http://{named.netloc}/"
        except ValueError:
            pass
        return base.rstrip("/") + self.path.split("?", 1)[0]

    def _drain(self, length: int) -> None:
        """Half-close after the answer, then discard the unread body (bounded, with a deadline).

        The FIN tells a client that reads while it writes that no more is coming; one that
        writes everything first finds its answer waiting instead of a reset.
        """
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + _DRAIN_SECONDS
        left = min(max(length, 0), _DRAIN_BYTES)
        try:
            while left > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self.connection.settimeout(remaining)
                chunk = self.rfile.read1(min(left, 65536))
                if not chunk:
                    return
                left -= len(chunk)
        except OSError:
            return  # the client went away or overran the deadline: nothing more to say

    def _not_allowed(self) -> None:
        self._refuse(ErrorCode.METHOD_NOT_ALLOWED, "use POST with a JSON body")

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _not_allowed

    def log_message(self, format: str, *args: Any) -> None:
        # The request line holds only the method and path; bodies are never logged.
        log.info("%s %s", self.address_string(), format % args)


class ExchangeHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server answering the exchange API with one service."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], service: ExchangeService, max_body: int) -> None:
        super().__init__(address, _Handler, bind_and_activate=False)
        self.service = service
        self.max_body_bytes = max_body
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """The base URL clients POST to."""
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def start(self) -> None:
        """Bind, listen and serve on a background thread."""
        self.server_bind()
        self.server_activate()
        # A short poll interval keeps stop() prompt (shutdown waits for the next poll).
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="exchange-http"
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``endorse-exchange serve``."""
    parser.add_argument("--config", required=True, type=Path, help="TOML configuration file")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each request")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; exit 0, 1 on a startup failure, 2 on bad usage."""
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not is_loopback_host(args.host):
        print(f"endorse-exchange: refusing non-loopback host {args.host}", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = load_config_file(args.config)
    except ExchangeError as exc:
        print(f"endorse-exchange: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    server = ExchangeHTTPServer(
        (args.host, args.port), build_service(config), config.max_body_bytes
    )
    try:
        server.start()
    except OSError as exc:
        print(f"endorse-exchange: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        server.server_close()
        return EXIT_FAILURE
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    print(f"EXCHANGE_URL={server.url}", flush=True)
    print("READY", flush=True)
    stop.wait()
    server.stop()
    return EXIT_OK
