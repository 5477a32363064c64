"""The exchange as a WSGI application (PEP 3333): the core every transport runs.

``endorse-exchange serve`` runs it under waitress; the Lambda handler turns API Gateway
events into WSGI calls of the same app. The app reads the request into an
:class:`~endorse_ble.exchange.service.HttpRequest`, asks the service, answers JSON and
writes one audit line. HTTP framing (Content-Length syntax, chunking, header limits,
timeouts) is the server's job; only the exchange's own answers come from here.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from endorse_ble.exchange.audit import Decision, record
from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.exchange.service import ExchangeService, HttpRequest, refusal
from endorse_ble.tokenlink.key_binding import PROOF_HEADER

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

#: Set by a transport that already has a request id (the Lambda's); else one is made up.
REQUEST_ID_KEY = "endorse.request_id"
#: Set by a transport that keeps repeated DPoP headers apart (the Lambda's payload 1.0);
#: else the server's one, possibly comma-joined, value is the only proof.
PROOFS_KEY = "endorse.proofs"
_PROOF_ENVIRON = "HTTP_" + PROOF_HEADER.upper().replace("-", "_")
#: The paths the app answers below its mount point (WSGI SCRIPT_NAME).
_API_PATHS = {"", "/"}
_DIGITS = re.compile(r"[0-9]{1,12}")


def request_url(environ: Environ) -> str:
    """The URL the client addressed, without its query (PEP 3333, "URL Reconstruction")."""
    scheme = str(environ.get("wsgi.url_scheme", "http"))
    host = environ.get("HTTP_HOST")
    if not isinstance(host, str) or not host:
        host = str(environ.get("SERVER_NAME", ""))
        port = str(environ.get("SERVER_PORT", ""))
        if port and port != {"https": "443", "http": "80"}.get(scheme):
            host += ":" + port
    path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
    return f"{scheme}://{host}{path or '/'}"


def request_proofs(environ: Environ) -> tuple[str, ...]:
    """The request's ``DPoP`` header values."""
    proofs = environ.get(PROOFS_KEY)
    if isinstance(proofs, tuple) and all(isinstance(p, str) for p in proofs):
        return proofs
    value = environ.get(_PROOF_ENVIRON)
    return (value,) if isinstance(value, str) else ()


class ExchangeApp:
    """The WSGI callable answering the exchange API with one service."""

    def __init__(self, service: ExchangeService, clock: Callable[[], float] = time.monotonic):
        self._service = service
        self._clock = clock

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        started = self._clock()
        request_id = environ.get(REQUEST_ID_KEY)
        if not isinstance(request_id, str) or not request_id:
            request_id = uuid.uuid4().hex
        decision = self._decide(environ, request_id)
        record(decision, request_id, self._clock() - started)
        data = json.dumps(decision.body).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Cache-Control", "no-store"),
            ("Content-Length", str(len(data))),
        ]
        if decision.status == HTTPStatus.METHOD_NOT_ALLOWED:
            headers.append(("Allow", "POST"))
        start_response(f"{decision.status} {HTTPStatus(decision.status).phrase}", headers)
        # RFC 9110 9.3.2: HEAD gets the headers GET would, without the content.
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [data]

    def _decide(self, environ: Environ, request_id: str) -> Decision:
        try:
            if environ.get("PATH_INFO", "") not in _API_PATHS:
                raise ExchangeError(ErrorCode.NOT_FOUND, "no such path; POST to /")
            method = str(environ.get("REQUEST_METHOD", ""))
            body = self._body(environ) if method.upper() == "POST" else b""
        except ExchangeError as exc:
            return refusal(exc)
        request = HttpRequest(
            method=method,
            body=body,
            url=request_url(environ),
            proofs=request_proofs(environ),
            request_id=request_id,
        )
        return self._service.handle(request)

    def _body(self, environ: Environ) -> bytes:
        """The body, read only when its declared length is within the limit."""
        declared = environ.get("CONTENT_LENGTH") or "0"
        if not isinstance(declared, str) or not _DIGITS.fullmatch(declared):
            raise ExchangeError(ErrorCode.MALFORMED_REQUEST, "the Content-Length is not a number")
        length, limit = int(declared), self._service.max_body_bytes
        if length > limit:
            # Never read into memory; the server discards what the client sends.
            raise ExchangeError(ErrorCode.REQUEST_TOO_LARGE, f"the body exceeds {limit} bytes")
        body = environ["wsgi.input"].read(length) if length else b""
        if not isinstance(body, bytes) or len(body) != length:
            raise ExchangeError(ErrorCode.MALFORMED_REQUEST, "the body is shorter than declared")
        return body
