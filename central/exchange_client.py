"""POST the token to the exchange: the only laptop module that imports requests.

``POST <url> {"token": ..., "nonce"?: ...}`` (with a ``DPoP`` proof header when the
laptop key is enrolled) answers 200 with credentials or an error
``{"error": <code>, "message": <text>}`` with 400/401/403/409/413/429/5xx
(docs/exchange-api.md). Every answer is hostile input: the body is read up to a bound,
must be JSON of the documented shape, and the exchange's message is shown only after
control characters are stripped and its length is bounded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import requests
import urllib3.exceptions

from endorse_ble.central.credentials import ExchangeResult, result_from_json
from endorse_ble.central.errors import ExchangeClientError, ExchangeFailure
from endorse_ble.tokenlink.bounded_read import BoundedReadError, ReadRefusal, read_bounded
from endorse_ble.tokenlink.key_binding import PROOF_HEADER
from endorse_ble.tokenlink.redact import describe_secret
from endorse_ble.tokenlink.text import one_line

log = logging.getLogger(__name__)

#: A credentials answer is about 2 KB; anything this large is not one.
MAX_RESPONSE_BYTES = 64 * 1024
_MAX_MESSAGE_CHARS = 200
_CONNECT_TIMEOUT = 5.0
_CHUNK_BYTES = 8192

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


class ExchangeClient:
    """Talks to one exchange URL. Holds a requests.Session; use as a context manager.

    With a ``prover`` (an enrolled laptop key) every request carries its proof.
    """

    def __init__(self, url: str, timeout: float = 10.0, prover: Prover | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self._prover = prover
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
        status, data = self._post(body, headers)
        if status == 200:
            return result_from_json(data)
        raise self._refusal(status, data)

    def _post(self, body: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
        session = self._session or requests.Session()
        try:
            with session.post(
                self.url,
                json=body,
                timeout=(min(_CONNECT_TIMEOUT, self.timeout), self.timeout),
                stream=True,
                allow_redirects=False,  # a redirect would re-send the token elsewhere
                headers=headers,
            ) as response:
                status = response.status_code
                raw = _read_body(response, MAX_RESPONSE_BYTES, self.timeout)
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
