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

Timeouts: ``connect_timeout_seconds`` for the TCP/TLS connection, ``read_timeout_seconds``
for each read of the answer and, in total, for reading the body, so a fetch ends within
about connect + 2 x read seconds whatever the server does. Each fetch uses a fresh
connection (``Connection: close``): fetches are minutes apart, and a kept-alive connection
silently dropped by carrier NAT would cost a read timeout instead of a prompt reconnect.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
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
from endorse_ble.peripheral.link_state import SYSFS_NET, require_link_up
from endorse_ble.peripheral.settings import CellularSettings, EndorseSettings
from endorse_ble.tokenlink.bounded_read import BoundedReadError, ReadRefusal, read_bounded
from endorse_ble.tokenlink.redact import describe_secret
from endorse_ble.tokenlink.token import Token

logger = logging.getLogger(__name__)

#: Read size while streaming the body; the body limit is checked after each read.
CHUNK_BYTES = 16384
#: How much of an error answer's body is read for the message.
ERROR_BODY_BYTES = 2048

_HEADERS = {
    "Accept": "application/json",
    # A compressed body could inflate far past max_body_bytes in one read; ask for none.
    "Accept-Encoding": "identity",
    "Connection": "close",
    "User-Agent": "endorse-ble-gateway/0.1",
}


class _BoundAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections are tied to one interface or source address."""

    def __init__(self, cellular: CellularSettings) -> None:
        # Set before super().__init__, which calls init_poolmanager.
        options = list(HTTPConnection.default_socket_options)
        if cellular.interface is not None:
            # socket(7): a NUL-terminated name of at most IFNAMSIZ bytes.
            name = cellular.interface.encode() + b"\0"
            options.append((socket.SOL_SOCKET, socket.SO_BINDTODEVICE, name))
        self._socket_options = options
        self._source_address = cellular.source_address
        super().__init__(max_retries=0)  # a failed fetch is reported, never retried here

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs["socket_options"] = self._socket_options
        if self._source_address is not None:
            pool_kwargs["source_address"] = (self._source_address, 0)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # trust_env=False and no proxies configured: reaching this would be a bug.
        raise EndorseFetchError(
            EndorseFetchReason.CONNECT_FAILED, "proxies are never used for Endorse"
        )


class EndorseClient:
    """A :class:`endorse_ble.peripheral.ports.TokenSource` that asks Endorse over the cellular link.

    Blocking; the daemon calls :meth:`fetch` from a worker thread. Call :meth:`close`
    when done. Every failure is an :class:`EndorseFetchError` with a reason.
    ``sysfs_net`` is where interface state is read (tests point it at a fake tree).
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
        self._session: requests.Session | None = None

    def close(self) -> None:
        """Release the HTTP session."""
        if self._session is not None:
            self._session.close()
            self._session = None

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
            token = self._get(query, nonce)
        except EndorseFetchError as exc:
            logger.warning("Endorse fetch failed after %.2fs: %s", time.monotonic() - started, exc)
            raise
        logger.info(
            "Endorse token %s exp=%d kid=%s in %.2fs",
            describe_secret(token.raw), token.expires_at, token.header.kid,
            time.monotonic() - started,
        )  # fmt: skip
        return token

    def _session_for_fetch(self) -> requests.Session:
        if self._session is None:
            session = requests.Session()
            session.trust_env = False  # no proxies or .netrc from the environment
            session.headers.update(_HEADERS)
            adapter = _BoundAdapter(self.cellular)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            self._session = session
        return self._session

    def _get(self, query: str | None, nonce: str | None) -> Token:
        s = self.settings
        try:
            response = self._session_for_fetch().get(
                s.url,
                params=query,
                timeout=(s.connect_timeout_seconds, s.read_timeout_seconds),
                stream=True,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise _transport_error(exc, self.cellular) from exc
        try:
            return self._read_answer(response, nonce)
        except (requests.RequestException, Urllib3Error) as exc:
            raise _transport_error(exc, self.cellular) from exc
        finally:
            response.close()

    def _read_answer(self, response: requests.Response, nonce: str | None) -> Token:
        limit = self.settings.max_body_bytes
        if response.status_code != 200:
            head = self._read_body(_chunks(response.raw, ERROR_BODY_BYTES), ERROR_BODY_BYTES)
            check_status(response.status_code, head)
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding != "identity":
            raise EndorseFetchError(
                EndorseFetchReason.NOT_JSON,
                f"Endorse's answer uses content encoding {excerpt(encoding.encode())!r}",
            )
        check_declared_length(response.headers.get("Content-Length"), limit)
        body = self._read_body(_chunks(response.raw), limit)
        return token_from_body(body, nonce)

    def _read_body(self, chunks: Iterator[bytes], limit: int) -> bytes:
        """The body within ``limit`` bytes and, in all, the read timeout."""
        try:
            return read_bounded(chunks, limit, timeout_seconds=self.settings.read_timeout_seconds)
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

    Each read waits at most the read timeout, so a deadline checked between reads bounds
    the whole body. With ``total``, stops once that many bytes were yielded.
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


def _transport_error(exc: Exception, cellular: CellularSettings) -> EndorseFetchError:
    """Map a requests/urllib3 failure to an EndorseFetchError naming the cause."""
    via = (
        f"interface {cellular.interface!r}"
        if cellular.interface is not None
        else f"source address {cellular.source_address!r}"
    )
    if isinstance(exc, requests.ConnectTimeout):
        return EndorseFetchError(
            EndorseFetchReason.CONNECT_TIMEOUT, f"no connection to Endorse via {via} in time"
        )
    if isinstance(exc, requests.ReadTimeout | ReadTimeoutError):
        return EndorseFetchError(
            EndorseFetchReason.READ_TIMEOUT, f"Endorse did not answer via {via} in time"
        )
    code = _os_errno(exc)
    if code in (errno.EPERM, errno.EACCES):
        return EndorseFetchError(
            EndorseFetchReason.BIND_FAILED,
            f"not permitted to bind to {via} (SO_BINDTODEVICE needs CAP_NET_RAW before Linux 5.7)",
        )
    if code == errno.ENODEV:
        return EndorseFetchError(
            EndorseFetchReason.INTERFACE_MISSING, f"{via} disappeared while connecting"
        )
    if code == errno.EADDRNOTAVAIL:
        return EndorseFetchError(
            EndorseFetchReason.BIND_FAILED, f"{via} is not an address of this host"
        )
    reason = f"errno {errno.errorcode.get(code, code)}" if code is not None else type(exc).__name__
    return EndorseFetchError(
        EndorseFetchReason.CONNECT_FAILED, f"connection to Endorse via {via} failed ({reason})"
    )


def _os_errno(exc: BaseException) -> int | None:
    """The errno of the OSError at the root of a requests/urllib3 exception chain, if any."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            return current.errno
        # urllib3's MaxRetryError keeps the cause in .reason; requests keeps it in args[0].
        todo.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        todo.extend(a for a in current.args if isinstance(a, BaseException))
    return None
