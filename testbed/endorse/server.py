"""A local stand-in for SORACOM Endorse and its public-key store.

The token endpoint answers ``GET /`` (query parameters) and ``POST /`` (a JSON object
body) with ``{"token": "<JWT>"}``, an RS256 JWT minted by
:class:`endorse_ble.testbed.endorse_keys.EndorseSigner`. As Endorse does when a SIM group enables
``parametersToEndorse.requestParameters``, the request's parameters are copied into the
signed claim ``soracom-endorse-claim.requestParameters``:

* GET: every query parameter as a string. A repeated parameter keeps its **last** value
  (``?n=a&n=b`` gives ``{"n": "b"}``); blank values are kept (``?n=`` gives ``{"n": ""}``).
* POST: the body must be a JSON object (at most 64 KiB); string values are copied as they
  are and any other value as its compact JSON text (``3`` gives ``"3"``).
* No parameters: the claim carries no ``requestParameters`` at all.

The keystore answers ``GET /soracom-public-keys/<kid>`` with the signer's PEM
(SubjectPublicKeyInfo), like the S3 object real verifiers fetch. A kid that is not in
Endorse's published form (``v1-<32 hex>-x509.pem``), after percent-decoding, is refused
with 400 before any lookup (so ``..%2F`` and friends go nowhere); a well-formed but unknown
kid gets 404 with an S3-style ``NoSuchKey`` XML body. (S3 answers 403 instead of 404 when
the caller may not list the bucket; verifiers should treat any non-200 as "no such key".)
Old keys keep being served after :meth:`EndorseSimulator.rotate_key`.

Fault modes (:class:`EndorseFault`) change how the token endpoint answers; the keystore
has its own ``keystore_fault`` with the same modes. ``NOT_ON_SIM_LINK`` is our assumption
of how Endorse refuses a request that did not arrive over the SIM's own link: the real
status and body are not documented, so it answers ``403`` with a JSON body
``{"code": "ENDORSE_NOT_ON_SIM_LINK", "message": ...}``; clients must handle any non-200.
"""

from __future__ import annotations

import enum
import http.server
import json
import logging
import socket
import ssl
import threading
import urllib.parse
from typing import Any

from endorse_ble.testbed.endorse import hostile
from endorse_ble.testbed.endorse_keys import EndorseSigner, SimIdentity
from endorse_ble.tokenlink.endorse import is_safe_kid

logger = logging.getLogger(__name__)

KEYSTORE_PREFIX = "/soracom-public-keys/"
#: Endorse's published kid form; anything else never names a key (or a path).
#: Largest POST body the token endpoint reads.
MAX_POST_BYTES = 65536


class EndorseFault(enum.Enum):
    """How the simulator misbehaves (``NONE``: it answers like Endorse)."""

    NONE = "none"
    NOT_ON_SIM_LINK = "not-on-sim-link"  # 403 + JSON error body (our assumption)
    SERVER_ERROR = "server-error"  # 503 + small JSON body
    SLOW = "slow"  # the normal answer after ``slow_delay_seconds``
    HANG = "hang"  # reads the request, then never answers until stop()
    HELD = "held"  # the normal answer once release_held() (or stop()) is called
    GARBAGE = "garbage"  # 200 with an HTML page, not JSON
    TRUNCATED_JSON = "truncated-json"  # 200 with half of the normal JSON body
    HUGE_BODY = "huge-body"  # 200 streaming ``huge_body_bytes`` of a JSON-looking body
    DRIBBLE_HEADERS = "dribble-headers"  # a header byte every ``dribble_pause_seconds``
    REDIRECT_BLOAT = "redirect-bloat"  # 302 with a ``huge_body_bytes`` body
    REDIRECT_DRIBBLE = "redirect-dribble"  # 302 whose body comes a byte at a time
    RATE_LIMITED = "rate-limited"  # 429 with ``Retry-After: retry_after``
    UNAVAILABLE = "unavailable"  # 503 with ``Retry-After: retry_after``


class EndorseSimulator:
    """The Endorse token endpoint and keystore on ``host:port`` (port 0: any free port).

    Use as a context manager or call :meth:`start` and :meth:`stop`. After start,
    ``url`` is the token endpoint and ``keystore_url`` the prefix a kid is appended to.
    ``fault``, ``keystore_fault``, ``lifetime``, ``slow_delay_seconds`` and
    ``huge_body_bytes`` may be changed at any time; requests read them when they arrive.
    ``padding_bytes`` adds a claim of that many characters to every token, to stand in
    for the larger tokens RSA-4096 keys or large request parameters give.
    """

    def __init__(
        self,
        *,
        sim: SimIdentity = SimIdentity(),  # noqa: B008 - frozen dataclass, safe as a default
        lifetime: int = 600,
        host: str = "127.0.0.1",
        port: int = 0,
        key_bits: int = 2048,
    ) -> None:
        self.sim = sim
        self.lifetime = lifetime
        self.host = host
        self.port = port
        self.key_bits = key_bits
        self.fault = EndorseFault.NONE
        self.keystore_fault = EndorseFault.NONE
        self.slow_delay_seconds = 2.0
        self.huge_body_bytes = 64 * 1024 * 1024
        self.dribble_pause_seconds = 0.1
        self.retry_after = "60"
        #: A server TLS context (see testbed.endorse.hostile.self_signed_context): https.
        self.tls: ssl.SSLContext | None = None
        self.padding_bytes = 0
        self.url = ""
        self.keystore_url = ""
        self.token_requests = 0
        self.keystore_fetches = 0
        self.last_request_parameters: dict[str, str] | None = None
        self._signer: EndorseSigner | None = None
        self._public_keys: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._requests_seen = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._released = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Generate the first key, bind the port and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("EndorseSimulator already started")
        self._stopping.clear()
        self._released.clear()
        self.rotate_key()
        server = _Server((self.host, self.port), _Handler, self)
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        bound_port = server.server_address[1]
        netloc = f"[{self.host}]:{bound_port}" if ":" in self.host else f"{self.host}:{bound_port}"
        self.port = bound_port
        scheme = "https" if self.tls is not None else "http"
        self.url = f"{scheme}://{netloc}/"
        self.keystore_url = f"http://{netloc}{KEYSTORE_PREFIX}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"endorse-sim:{bound_port}",
        )
        self._thread.start()
        logger.info("Endorse simulator on %s (keystore %s)", self.url, self.keystore_url)

    def stop(self) -> None:
        """Stop serving; hung and slow requests are released and their connections closed."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        self._released.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> EndorseSimulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- keys ------------------------------------------------------------------------

    @property
    def signer(self) -> EndorseSigner:
        """The signer of new tokens (the current key)."""
        if self._signer is None:
            raise RuntimeError("EndorseSimulator not started")
        return self._signer

    def rotate_key(self) -> str:
        """Make a new key current and return its kid; earlier public keys stay served."""
        signer = EndorseSigner(key_bits=self.key_bits)
        pem = signer.public_pem()  # generates the key now, outside the lock
        with self._lock:
            self._public_keys[signer.kid] = pem
            self._signer = signer
        return signer.kid

    def release_held(self) -> None:
        """Let every request held by ``EndorseFault.HELD`` (now or later) answer."""
        self._released.set()

    def public_key_pem(self, kid: str) -> bytes | None:
        """The PEM served for ``kid``, or None when the keystore has no such key."""
        with self._lock:
            return self._public_keys.get(kid)

    # -- used by the request handler ---------------------------------------------------

    def _count_token_request(self, params: dict[str, str]) -> None:
        with self._lock:
            self.token_requests += 1
            self.last_request_parameters = params
            self._requests_seen.notify_all()

    def wait_for_token_requests(self, count: int, timeout: float = 20.0) -> bool:
        """Block until ``count`` token requests have arrived in all (False on timeout)."""
        with self._requests_seen:
            return self._requests_seen.wait_for(lambda: self.token_requests >= count, timeout)

    def _count_keystore_fetch(self) -> None:
        with self._lock:
            self.keystore_fetches += 1

    def _mint(self, params: dict[str, str]) -> str:
        extra = {"padding": "p" * self.padding_bytes} if self.padding_bytes else None
        return self.signer.mint(
            self.sim, lifetime=self.lifetime, request_parameters=params, extra_claims=extra
        )


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True  # a hung handler must never keep the process (or stop()) waiting
    block_on_close = False

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], sim: EndorseSimulator
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sim = sim
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is routine for a fault simulator; keep the
        # traceback out of the test output but available at debug level.
        logger.debug("request from %s failed", client_address, exc_info=True)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "EndorseSimulator/1"
    # Per-socket timeout: a client that stops reading cannot pin a handler thread forever.
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    # -- routing ---------------------------------------------------------------------

    def do_GET(self) -> None:
        split = urllib.parse.urlsplit(self.path)
        if split.path.startswith(KEYSTORE_PREFIX):
            self._keystore(split.path[len(KEYSTORE_PREFIX) :])
        elif split.path == "/":
            pairs = urllib.parse.parse_qsl(split.query, keep_blank_values=True)
            self._token(dict(pairs))  # dict() keeps the last of repeated names
        else:
            self._send_json(404, {"code": "NOT_FOUND", "message": "no such path"})

    def do_POST(self) -> None:
        if urllib.parse.urlsplit(self.path).path != "/":
            self._send_json(404, {"code": "NOT_FOUND", "message": "no such path"})
            return
        params = self._read_post_parameters()
        if params is not None:
            self._token(params)

    def _read_post_parameters(self) -> dict[str, str] | None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_POST_BYTES:
            self._send_json(400, {"code": "BAD_REQUEST", "message": "bad Content-Length"})
            return None
        body = self.rfile.read(length) if length else b"{}"
        try:
            value = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            value = None
        if not isinstance(value, dict):
            self._send_json(400, {"code": "BAD_REQUEST", "message": "body is not a JSON object"})
            return None
        return {
            str(k): v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
            for k, v in value.items()
        }

    # -- endpoints -------------------------------------------------------------------

    def _token(self, params: dict[str, str]) -> None:
        sim = self.server.sim
        sim._count_token_request(params)
        fault = sim.fault
        if self._play_fault(fault):
            return
        body = json.dumps({"token": sim._mint(params)}).encode()
        if fault is EndorseFault.TRUNCATED_JSON:
            self._send(200, body[: len(body) // 2], "application/json")
        else:
            self._send(200, body, "application/json")

    def _keystore(self, quoted_kid: str) -> None:
        sim = self.server.sim
        sim._count_keystore_fetch()
        if self._play_fault(sim.keystore_fault):
            return
        kid = urllib.parse.unquote(quoted_kid)
        if not is_safe_kid(kid):
            self._send_s3_error(400, "InvalidKey", "not a key id")
            return
        pem = sim.public_key_pem(kid)
        if pem is None:
            self._send_s3_error(404, "NoSuchKey", "The specified key does not exist.")
            return
        body = pem[: len(pem) // 2] if sim.keystore_fault is EndorseFault.TRUNCATED_JSON else pem
        self._send(200, body, "application/x-pem-file")

    def _play_fault(self, fault: EndorseFault) -> bool:
        """Answer according to ``fault``; False when the normal answer should follow."""
        sim = self.server.sim
        if fault is EndorseFault.NOT_ON_SIM_LINK:
            self._send_json(
                403,
                {
                    "code": "ENDORSE_NOT_ON_SIM_LINK",
                    "message": "Endorse answers only requests made over the SIM's own link",
                },
            )
        elif fault is EndorseFault.SERVER_ERROR:
            self._send_json(503, {"code": "SERVICE_UNAVAILABLE", "message": "try again later"})
        elif fault is EndorseFault.SLOW:
            sim._stopping.wait(sim.slow_delay_seconds)
            return False
        elif fault is EndorseFault.HELD:
            sim._released.wait()  # stop() sets it too
            return False
        elif fault is EndorseFault.HANG:
            sim._stopping.wait()
            self.close_connection = True
        elif fault is EndorseFault.GARBAGE:
            self._send(200, b"<html><body>502 Bad Gateway</body></html>\n", "text/html")
        elif fault is EndorseFault.HUGE_BODY:
            self._send_huge(sim.huge_body_bytes)
        else:
            return self._play_hostile(fault)
        return True

    def _play_hostile(self, fault: EndorseFault) -> bool:
        sim = self.server.sim
        pause = sim.dribble_pause_seconds
        if fault is EndorseFault.DRIBBLE_HEADERS:
            hostile.dribbled_headers(self, pause, sim._stopping)
        elif fault is EndorseFault.REDIRECT_BLOAT:
            hostile.redirect(self, sim.huge_body_bytes, None, sim._stopping)
        elif fault is EndorseFault.REDIRECT_DRIBBLE:
            hostile.redirect(self, 4096, pause, sim._stopping)
        elif fault is EndorseFault.RATE_LIMITED:
            hostile.retry_after(self, 429, sim.retry_after)
        elif fault is EndorseFault.UNAVAILABLE:
            hostile.retry_after(self, 503, sim.retry_after)
        else:
            return False
        return True

    # -- writing ---------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, value: object) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _send_s3_error(self, status: int, code: str, message: str) -> None:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ).encode()
        self._send(status, body, "application/xml")

    def _send_huge(self, total: int) -> None:
        # No Content-Length: the body ends when the connection closes, so only a client
        # that bounds what it reads (not one trusting a header) survives this.
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk = b"A" * 65536
        sent = 0
        try:
            self.wfile.write(b'{"token": "')
            while sent < total and not self.server.sim._stopping.is_set():
                self.wfile.write(chunk)
                sent += len(chunk)
            self.wfile.write(b'"}')
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            # The client hung up once it had read enough: exactly what a good client does.
            logger.debug("huge body: client closed after %d bytes", sent)
