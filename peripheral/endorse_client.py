"""Fetch Endorse tokens over the cellular link, and over nothing else.

The only gateway module that imports ``requests``. Endorse answers only requests that
arrive over the SIM's own link (SORACOM Endorse docs), and a token request that leaves
over Wi-Fi or Ethernet must never happen silently, so every connection is tied to the
cellular link before it is made:

* ``cellular.interface`` (e.g. ``ppp0``): the socket gets ``SO_BINDTODEVICE`` (socket(7))
  through urllib3's ``socket_options``, so its packets can only use that interface; if
  the route to Endorse is not through it, the connection fails instead of leaving
  elsewhere. Privilege: before Linux 5.7 this option needs ``CAP_NET_RAW``; since Linux
  5.7 (commit c427bfec18f2, "enable SO_BINDTODEVICE for non-root users") an unprivileged
  process may set it on a socket not yet bound to a device, which is our case. Debian 12's
  kernel (6.1) is in the second group; on older kernels run the daemon with
  ``AmbientCapabilities=CAP_NET_RAW``. A refusal is reported as ``BIND_FAILED``.
* ``cellular.source_address``: the socket is bound to that local address before
  connecting. No privilege is needed, but the address only selects the interface if the
  host's routing policy sends traffic from it over the cellular link (e.g. an
  ``ip rule from <address> table cellular``); the kernel will not enforce it otherwise.

Before each fetch an interface given by name must exist and be up (sysfs IFF_UP, see
:mod:`endorse_ble.peripheral.link_state`), or the fetch fails at once with ``INTERFACE_MISSING`` or
``INTERFACE_DOWN``. Proxies from the environment and ``.netrc`` are ignored
(``trust_env=False``), as a proxy would carry the request off the cellular link.

Known gap: the host name is resolved by the system resolver, whose DNS queries follow the
routing table, not the binding above (only the query for Endorse's name can leak, never
the request or a token). With SORACOM Air's DNS servers on the ppp link this is moot.

Deadline: one total deadline bounds a fetch, connect_timeout_seconds +
read_timeout_seconds from its start, whatever the server does (requests' own timeouts are
per socket operation: a server dribbling one byte a second never trips them). The HTTP
exchange runs in a worker thread; when the deadline passes, its sockets are shut down and
the worker is abandoned, not awaited, so even a hung DNS lookup cannot hold the caller.
Redirects are never followed and their bodies are read only up to a small bound: requests'
``Session.send`` reads a 3xx body whole even with ``allow_redirects=False``
(field-facts.md), so requests go straight to the transport adapter. Each fetch uses a fresh
connection (``Connection: close``): fetches are minutes apart, and a kept-alive connection
silently dropped by carrier NAT would cost a timeout instead of a prompt reconnect.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import ReadTimeoutError
from urllib3.response import BaseHTTPResponse

from endorse_ble.peripheral.endorse_answer import (
    check_declared_length,
    check_status,
    excerpt,
    nonce_query,
    token_from_body,
)
from endorse_ble.peripheral.errors import EndorseFetchError, EndorseFetchReason
from endorse_ble.peripheral.fetch_failure import classify_os_failure, parse_retry_after
from endorse_ble.peripheral.link_state import SYSFS_NET, require_link_up
from endorse_ble.peripheral.settings import CellularSettings, EndorseSettings
from endorse_ble.tokenlink.bounded_read import BoundedReadError, ReadRefusal, read_bounded
from endorse_ble.tokenlink.redact import describe_secret
from endorse_ble.tokenlink.token import Token

logger = logging.getLogger(__name__)

#: Read size while streaming the body; the body limit is checked after each read.
CHUNK_BYTES = 16384
#: How much of an error answer's body (a redirect's included) is read for the message.
ERROR_BODY_BYTES = 2048

_HEADERS = {
    "Accept": "application/json",
    # A compressed body could inflate far past max_body_bytes in one read; ask for none.
    "Accept-Encoding": "identity",
    "Connection": "close",
    "User-Agent": "endorse-ble-gateway/0.1",
}


def fetch_deadline_seconds(settings: EndorseSettings) -> float:
    """The total time one fetch may take: connect, TLS, headers and body."""
    return settings.connect_timeout_seconds + settings.read_timeout_seconds


class _Sockets:
    """The connections of one fetch, so an overrun can shut them from another thread.

    Each is held through a descriptor of its own (a dup taken on the fetch's thread):
    the fetch's thread closes its socket whenever it likes, and a shutdown from the
    deadline's thread through that socket's number could reach whatever file reused it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self.connected = False
        self.aborted = False

    def add(self, sock: socket.socket) -> None:
        own = sock.dup()
        with self._lock:
            self.connected = True
            if self.aborted:  # connected after the deadline: cut it at once
                _shut(own)
                own.close()
            else:
                self._open.append(own)

    def abort(self) -> None:
        """Shut every connection down: a read, handshake or send blocked on it returns."""
        with self._lock:
            self.aborted = True
            for own in self._open:
                _shut(own)
                own.close()
            self._open.clear()

    def release(self) -> None:
        """Let go of the connections (the fetch's own sockets are closed by the fetch)."""
        with self._lock:
            for own in self._open:
                own.close()
            self._open.clear()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed or never connected
        sock.shutdown(socket.SHUT_RDWR)


def _tracking_pools(sockets: _Sockets) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3 pools whose connections hand their socket to ``sockets`` once connected."""

    class Connection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            sockets.add(sock)
            return sock

    class SecureConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            sockets.add(sock)
            return sock

    class Pool(HTTPConnectionPool):
        ConnectionCls = Connection

    class SecurePool(HTTPSConnectionPool):
        ConnectionCls = SecureConnection

    return {"http": Pool, "https": SecurePool}


class _BoundAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections are tied to one interface or source address."""

    def __init__(self, cellular: CellularSettings, sockets: _Sockets) -> None:
        # Set before super().__init__, which calls init_poolmanager.
        options = list(HTTPConnection.default_socket_options)
        if cellular.interface is not None:
            # socket(7): a NUL-terminated name of at most IFNAMSIZ bytes.
            name = cellular.interface.encode() + b"\0"
            options.append((socket.SOL_SOCKET, socket.SO_BINDTODEVICE, name))
        self._socket_options = options
        self._source_address = cellular.source_address
        self._sockets = sockets
        super().__init__(max_retries=0)  # a failed fetch is reported, never retried here

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs["socket_options"] = self._socket_options
        if self._source_address is not None:
            pool_kwargs["source_address"] = (self._source_address, 0)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _tracking_pools(self._sockets)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # No proxies are ever configured: reaching this would be a bug.
        raise EndorseFetchError(
            EndorseFetchReason.CONNECT_FAILED, "proxies are never used for Endorse"
        )


class EndorseClient:
    """A :class:`endorse_ble.peripheral.ports.TokenSource` that asks Endorse over the cellular link.

    Blocking; the daemon calls :meth:`fetch` from a worker thread, and :meth:`fetch`
    returns by its deadline whatever the network does. Every failure is an
    :class:`EndorseFetchError` with a reason. ``sysfs_net`` is where interface state is
    read (tests point it at a fake tree).
    """

    def __init__(
        self,
        settings: EndorseSettings,
        cellular: CellularSettings,
        *,
        sysfs_net: Path = SYSFS_NET,
    ) -> None:
        if cellular.interface is None and cellular.source_address is None:
            raise ValueError("EndorseClient needs cellular.interface or cellular.source_address")
        self.settings = settings
        self.cellular = cellular
        self._sysfs_net = sysfs_net

    def close(self) -> None:
        """Nothing is held between fetches (each has its own connection); kept for the seam."""

    def __enter__(self) -> EndorseClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def fetch(self, nonce: str | None = None) -> Token:
        """Fetch a token; with ``nonce``, one whose requestParameters carry it."""
        started = time.monotonic()
        try:
            query = nonce_query(nonce) if nonce is not None else None
            if self.cellular.interface is not None:
                # Fail fast, before any socket exists, rather than wait out a timeout.
                require_link_up(self.cellular.interface, self._sysfs_net)
            token = self._fetch_within(query, nonce, fetch_deadline_seconds(self.settings))
        except EndorseFetchError as exc:
            logger.debug("Endorse fetch failed after %.2fs: %s", time.monotonic() - started, exc)
            raise
        logger.info(
            "Endorse token %s exp=%d kid=%s in %.2fs",
            describe_secret(token.raw), token.expires_at, token.header.kid,
            time.monotonic() - started,
        )  # fmt: skip
        return token

    def _fetch_within(self, query: str | None, nonce: str | None, seconds: float) -> Token:
        """Run the exchange in a worker thread; past ``seconds``, cut it and abandon it."""
        sockets = _Sockets()
        outcome: list[Token | BaseException] = []
        done = threading.Event()
        deadline = time.monotonic() + seconds

        def work() -> None:
            try:
                outcome.append(self._exchange(query, nonce, sockets, deadline))
            except BaseException as exc:  # handed to the caller as it is
                outcome.append(exc)
            finally:
                done.set()

        threading.Thread(target=work, name="endorse-fetch", daemon=True).start()
        if not done.wait(seconds):
            sockets.abort()
            phase = "an answer" if sockets.connected else "a connection"
            raise EndorseFetchError(
                EndorseFetchReason.READ_TIMEOUT
                if sockets.connected
                else EndorseFetchReason.CONNECT_TIMEOUT,
                f"no complete answer from Endorse within {seconds:g} s (still waiting for "
                f"{phase}; {self._via()})",
            )
        sockets.release()
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def _via(self) -> str:
        if self.cellular.interface is not None:
            return f"interface {self.cellular.interface!r}"
        return f"source address {self.cellular.source_address!r}"

    def _exchange(
        self, query: str | None, nonce: str | None, sockets: _Sockets, deadline: float
    ) -> Token:
        s = self.settings
        adapter = _BoundAdapter(self.cellular, sockets)
        try:
            request = requests.Request("GET", s.url, params=query, headers=_HEADERS).prepare()
            try:
                # The adapter, not a Session: Session.send would read a redirect's body.
                response = adapter.send(
                    request,
                    stream=True,
                    timeout=(s.connect_timeout_seconds, s.read_timeout_seconds),
                )
            except (requests.RequestException, Urllib3Error, OSError) as exc:
                raise self._transport_error(exc) from exc
            try:
                return self._read_answer(response, nonce, deadline)
            except (requests.RequestException, Urllib3Error, OSError) as exc:
                raise self._transport_error(exc) from exc
            finally:
                response.close()
        finally:
            adapter.close()

    def _read_answer(
        self, response: requests.Response, nonce: str | None, deadline: float
    ) -> Token:
        limit = self.settings.max_body_bytes
        if response.status_code != 200:
            head = _read_body(_chunks(response.raw, ERROR_BODY_BYTES), ERROR_BODY_BYTES, deadline)
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), time.time(), _RETRY_AFTER_CAP_SECONDS
            )
            check_status(response.status_code, head, retry_after=retry_after)
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding != "identity":
            raise EndorseFetchError(
                EndorseFetchReason.NOT_JSON,
                f"Endorse's answer uses content encoding {excerpt(encoding.encode())!r}",
            )
        check_declared_length(response.headers.get("Content-Length"), limit)
        body = _read_body(_chunks(response.raw), limit, deadline)
        return token_from_body(body, nonce)

    def _transport_error(self, exc: BaseException) -> EndorseFetchError:
        """Map a requests/urllib3 failure to an EndorseFetchError naming the cause."""
        via = self._via()
        if isinstance(exc, requests.ConnectTimeout):
            return EndorseFetchError(
                EndorseFetchReason.CONNECT_TIMEOUT, f"no connection to Endorse via {via} in time"
            )
        if isinstance(exc, requests.ReadTimeout | ReadTimeoutError):
            return EndorseFetchError(
                EndorseFetchReason.READ_TIMEOUT, f"Endorse did not answer via {via} in time"
            )
        classified = classify_os_failure(exc, via)
        if classified is not None:
            return classified
        return EndorseFetchError(
            EndorseFetchReason.CONNECT_FAILED,
            f"connection to Endorse via {via} failed ({type(exc).__name__})",
        )


#: The longest Retry-After honoured; the refresher also caps it by its backoff maximum.
_RETRY_AFTER_CAP_SECONDS = 3600.0


def _read_body(chunks: Iterator[bytes], limit: int, deadline: float) -> bytes:
    """The body within ``limit`` bytes and before the fetch's ``deadline`` (monotonic)."""
    try:
        return read_bounded(chunks, limit, timeout_seconds=max(0.0, deadline - time.monotonic()))
    except BoundedReadError as exc:
        if exc.reason is ReadRefusal.TOO_LARGE:
            raise EndorseFetchError(
                EndorseFetchReason.BODY_TOO_LARGE,
                f"Endorse sent more than the {limit}-byte limit; stopped reading",
            ) from None
        raise EndorseFetchError(
            EndorseFetchReason.READ_TIMEOUT, "Endorse's answer arrived too slowly"
        ) from None


def _chunks(raw: BaseHTTPResponse, total: int | None = None) -> Iterator[bytes]:
    """The body as it arrives (read1: whatever is there, never waiting to fill a buffer).

    Each read waits at most the read timeout, and the fetch's deadline shuts the socket,
    so the whole body is bounded in time. With ``total``, stops after that many bytes.
    """
    seen = 0
    while total is None or seen < total:
        data = raw.read1(
            CHUNK_BYTES if total is None else min(CHUNK_BYTES, total - seen), decode_content=False
        )
        if not data:
            return
        seen += len(data)
        yield data
