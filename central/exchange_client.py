"""POST the token to the exchange: the only laptop module that imports requests.

``POST <url> {"token": ..., "nonce"?: ...}`` (with a ``DPoP`` proof header when the
laptop key is enrolled) answers 200 with credentials or an error
``{"error": <code>, "message": <text>}`` with 400/401/403/409/413/429/5xx
(docs/exchange-api.md). Every answer is hostile input: the body is read up to a bound,
must be JSON of the documented shape, and the exchange's message is shown only after
control characters are stripped and its length is bounded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests
import urllib3.exceptions

from endorse_ble.central.credentials import ExchangeResult, result_from_json
from endorse_ble.central.errors import ExchangeClientError, ExchangeFailure
from endorse_ble.tokenlink.bounded_read import BoundedReadError, ReadRefusal, read_bounded
from endorse_ble.tokenlink.key_binding import PROOF_HEADER
from endorse_ble.tokenlink.redact import describe_secret
from endorse_ble.tokenlink.text import one_line

log = logging.getLogger(__name__)
T = TypeVar("T")

#: A credentials answer is about 2 KB; anything this large is not one.
MAX_RESPONSE_BYTES = 64 * 1024
_MAX_MESSAGE_CHARS = 200
_CONNECT_TIMEOUT = 5.0
_CHUNK_BYTES = 8192
_ABANDON_GRACE_SECONDS = 0.5

_STATUS_REASON = {
    400: ExchangeFailure.BAD_REQUEST,
    401: ExchangeFailure.TOKEN_REJECTED,
    403: ExchangeFailure.FORBIDDEN,
    409: ExchangeFailure.REPLAYED,
    413: ExchangeFailure.BAD_REQUEST,
    429: ExchangeFailure.RATE_LIMITED,
}


def _connection_detail(exc: requests.ConnectionError) -> str:
    # requests wraps urllib3's MaxRetryError, whose reason is the real cause.
    reason = exc.args[0] if exc.args else None
    cause = getattr(reason, "reason", reason)
    if isinstance(cause, urllib3.exceptions.NameResolutionError):
        return "host name does not resolve (DNS)"
    if isinstance(cause, urllib3.exceptions.NewConnectionError):
        if isinstance(cause.__cause__, ConnectionRefusedError) or "refused" in str(cause):
            return "connection refused"
        return "cannot connect (network down?)"
    return one_line(type(cause).__name__ if cause is not None else str(exc), _MAX_MESSAGE_CHARS)


def _read_body(response: requests.Response, limit: int, timeout: float) -> bytes:
    """The streamed body within ``limit`` bytes and ``timeout`` seconds in all."""
    try:
        return read_bounded(
            response.iter_content(chunk_size=_CHUNK_BYTES), limit, timeout_seconds=timeout
        )
    except BoundedReadError as exc:
        if exc.reason is ReadRefusal.TOO_SLOW:
            raise ExchangeClientError(
                ExchangeFailure.TIMEOUT, f"the answer took over {timeout:g} s"
            ) from None
        raise ExchangeClientError(
            ExchangeFailure.BAD_RESPONSE,
            f"HTTP {response.status_code} with a body over {limit} bytes",
        ) from None


#: Signs a proof for (method, url, token): central.key_proof with the laptop key.
Prover = Callable[[str, str, str], str]


def parse_http_date(value: str | None) -> float | None:
    """A Date header as Unix seconds, None if absent or not a date (hostile input)."""
    if not value or len(value) > 64:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def call_with_deadline(
    work: Callable[[], T], seconds: float, what: str, abandon: Callable[[], object] | None = None
) -> T:
    """``work()`` if it finishes within ``seconds``, else ExchangeClientError TIMEOUT.

    requests' timeouts are per socket operation: a server trickling a byte a second never
    trips them. So the call runs in a daemon thread that is abandoned at the deadline
    rather than awaited; ``abandon`` (closing its connection) makes it end soon after.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the caller's thread as is
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name=f"deadline:{what}", daemon=True).start()
    if not done.wait(seconds):
        if abandon is not None:
            with contextlib.suppress(Exception):  # best effort: the thread is let go anyway
                abandon()
            # Its socket shut down, the thread ends at once; a moment's grace lets it hand
            # the connection back before the session closes, never more.
            done.wait(_ABANDON_GRACE_SECONDS)
        raise ExchangeClientError(
            ExchangeFailure.TIMEOUT, f"no complete answer within {seconds:g} s"
        )
    if failure:
        raise failure[0]
    return outcome[0]


class ExchangeClient:
    """Talks to one exchange URL. Holds a requests.Session; use as a context manager.

    ``timeout`` is the total deadline of each call (connect, headers and body). With a
    ``prover`` (an enrolled laptop key) every exchange request carries its proof.
    """

    def __init__(self, url: str, timeout: float = 10.0, prover: Prover | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self._prover = prover
        #: The exchange's clock (its Date header) at its last answer, Unix seconds.
        self.server_date: float | None = None
        # The connection of the answer being read, through a descriptor of its own (see
        # _abandon), and the lock under which either thread takes it.
        self._in_flight: socket.socket | None = None
        self._in_flight_lock = threading.Lock()
        self._session: requests.Session | None = None

    def __enter__(self) -> ExchangeClient:
        self._session = requests.Session()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def exchange(self, token: str, nonce: str | None = None) -> ExchangeResult:
        """Trade ``token`` (answering ``nonce``) for credentials; ExchangeClientError if not."""
        body: dict[str, str] = {"token": token}
        if nonce is not None:
            body["nonce"] = nonce
        headers = {"Accept": "application/json"}
        if self._prover is not None:
            headers[PROOF_HEADER] = self._prover("POST", self.url, token)
        log.info(
            "POST %s token %s%s",
            self.url,
            describe_secret(token),
            " with a key proof" if self._prover is not None else "",
        )
        status, data = call_with_deadline(
            lambda: self._post(body, headers), self.timeout, "exchange", self._abandon
        )
        if status == 200:
            return result_from_json(data)
        raise self._refusal(status, data)

    def check_reachable(self) -> int:
        """Ask the exchange for nothing (HEAD), to find it down before a fresh token is
        spent on it; the connection is kept for the exchange itself. Returns the status;
        raises ExchangeClientError UNREACHABLE, TLS, TIMEOUT or UNAVAILABLE (502-504)."""
        status = call_with_deadline(self._head, self.timeout, "exchange check", self._abandon)
        if status in (502, 503, 504):
            raise ExchangeClientError(
                ExchangeFailure.UNAVAILABLE,
                f"HTTP {status} before anything was sent",
                status=status,
            )
        return status

    def _head(self) -> int:
        with (
            self._request() as session,
            session.head(self.url, timeout=self._timeouts(), allow_redirects=False) as answer,
        ):
            return answer.status_code

    def _abandon(self) -> None:
        """Shut the connection of a call past its deadline down, so its thread ends too.

        Closing the response instead would wait for the lock the reading thread holds;
        shutdown(2) makes its blocked recv return at once, and it cleans up as it leaves.
        The shutdown goes through a dup taken by the reading thread: through the reading
        thread's own socket it could race that thread's close and reach whatever file
        reused the number (socket.shutdown reads the number outside the GIL).
        """
        with self._in_flight_lock:
            own, self._in_flight = self._in_flight, None
        if own is not None:
            with contextlib.suppress(OSError):
                own.shutdown(socket.SHUT_RDWR)
            own.close()

    def _hold_in_flight(self, response: requests.Response) -> None:
        """Keep a descriptor of the answer's connection for :meth:`_abandon`."""
        sock = getattr(getattr(response.raw, "_connection", None), "sock", None)
        own = None
        if isinstance(sock, socket.socket):
            # fromfd, not dup(): an SSLSocket refuses dup(). On this thread, the number
            # is still the connection's.
            with contextlib.suppress(OSError):  # already closed: nothing to cut
                own = socket.fromfd(sock.fileno(), sock.family, sock.type)
        with self._in_flight_lock:
            self._in_flight = own

    def _let_go_in_flight(self) -> None:
        with self._in_flight_lock:
            own, self._in_flight = self._in_flight, None
        if own is not None:
            own.close()

    def _timeouts(self) -> tuple[float, float]:
        return (min(_CONNECT_TIMEOUT, self.timeout), self.timeout)

    @contextlib.contextmanager
    def _request(self) -> Iterator[requests.Session]:
        """The session for one request, with requests' errors turned into ours."""
        session = self._session or requests.Session()
        try:
            yield session
        except requests.exceptions.SSLError as exc:
            raise ExchangeClientError(ExchangeFailure.TLS, one_line(str(exc), 120)) from exc
        except requests.Timeout as exc:
            raise ExchangeClientError(
                ExchangeFailure.TIMEOUT, f"no answer within {self.timeout:g} s"
            ) from exc
        except requests.ConnectionError as exc:
            raise ExchangeClientError(
                ExchangeFailure.UNREACHABLE, f"{self.url}: {_connection_detail(exc)}"
            ) from exc
        except requests.RequestException as exc:
            raise ExchangeClientError(
                ExchangeFailure.UNREACHABLE, f"{self.url}: {one_line(str(exc), 120)}"
            ) from exc
        finally:
            if self._session is None:
                session.close()

    def _post(self, body: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
        with (
            self._request() as session,
            session.post(
                self.url,
                json=body,
                timeout=self._timeouts(),
                stream=True,
                allow_redirects=False,  # a redirect would re-send the token elsewhere
                headers=headers,
            ) as response,
        ):
            self._hold_in_flight(response)
            try:
                status = response.status_code
                raw = _read_body(response, MAX_RESPONSE_BYTES, self.timeout)
                self.server_date = parse_http_date(response.headers.get("Date"))
            finally:
                self._let_go_in_flight()
        try:
            return status, json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            if status == 200:
                raise ExchangeClientError(
                    ExchangeFailure.BAD_RESPONSE, "HTTP 200 with a body that is not JSON"
                ) from None
            return status, None

    @staticmethod
    def _refusal(status: int, data: Any) -> ExchangeClientError:
        code = message = None
        if isinstance(data, dict):
            if isinstance(data.get("error"), str):
                code = one_line(data["error"], 40)
            if isinstance(data.get("message"), str):
                message = one_line(data["message"], _MAX_MESSAGE_CHARS)
        if status in _STATUS_REASON:
            reason = _STATUS_REASON[status]
        elif 500 <= status <= 599:
            reason = ExchangeFailure.UNAVAILABLE
        else:
            reason = ExchangeFailure.BAD_RESPONSE
        detail = message or ("no error body" if data is None else "no message")
        if reason is ExchangeFailure.BAD_RESPONSE:
            detail = f"unexpected HTTP {status}"
        return ExchangeClientError(reason, detail, status=status, code=code)


def fetch_keystore_pem(url: str, timeout: float = 10.0, max_bytes: int = 16 * 1024) -> bytes:
    """GET a public key PEM for ``inspect --verify`` (this module is central's one HTTP
    adapter). Raises ExchangeClientError with the same reasons as the exchange call."""
    try:
        with requests.get(
            url, timeout=(min(_CONNECT_TIMEOUT, timeout), timeout), stream=True
        ) as response:
            status = response.status_code
            body = _read_body(response, max_bytes, timeout)
    except requests.Timeout as exc:
        raise ExchangeClientError(ExchangeFailure.TIMEOUT, f"{url}: no answer") from exc
    except requests.ConnectionError as exc:
        raise ExchangeClientError(
            ExchangeFailure.UNREACHABLE, f"{url}: {_connection_detail(exc)}"
        ) from exc
    except requests.RequestException as exc:
        raise ExchangeClientError(ExchangeFailure.UNREACHABLE, one_line(str(exc), 120)) from exc
    if status != 200:
        raise ExchangeClientError(
            ExchangeFailure.BAD_RESPONSE, f"{url}: HTTP {status}", status=status
        )
    return body
