"""AWS Lambda entry point: ``endorse_ble.exchange.lambda_handler.handler``.

Accepts API Gateway REST API (payload format 1.0) and HTTP API (2.0) proxy events, with
plain or base64-encoded bodies, turns each into a WSGI call of the same
:class:`~endorse_ble.exchange.wsgi.ExchangeApp` the local server runs, and answers in the
proxy response format. The route API Gateway matched is the app's mount point
(``SCRIPT_NAME``), so whatever route you map reaches the API; the URL the core sees is
``https://`` + API Gateway's domain name + that path, as a client addresses it. The
service is built on the first invocation (no work at import) and reused while the
execution environment stays warm, so the key cache and the memory replay cache persist
across its invocations.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

from endorse_ble.exchange.app import build_service
from endorse_ble.exchange.config import check_role_chaining
from endorse_ble.exchange.config_env import config_from_env
from endorse_ble.exchange.errors import ConfigError, ErrorCode, ExchangeError
from endorse_ble.exchange.wsgi import PROOFS_KEY, REQUEST_ID_KEY, Environ, ExchangeApp
from endorse_ble.tokenlink.key_binding import PROOF_HEADER

log = logging.getLogger(__name__)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str:
    """An event string as a WSGI "bytes-as-latin-1" string (PEP 3333); others become ""."""
    if not isinstance(value, str):
        return ""
    # surrogatepass: a lone surrogate in an event becomes bytes the app refuses, not a crash.
    return value.encode("utf-8", "surrogatepass").decode("latin-1")


def _event_body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise ExchangeError(ErrorCode.MALFORMED_REQUEST, "the body is not text")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ExchangeError(ErrorCode.MALFORMED_REQUEST, "the body is not base64") from None
    return body.encode("utf-8", "surrogatepass")


def _event_proofs(event: Mapping[str, Any], headers: Mapping[str, str]) -> tuple[str, ...]:
    # Payload 1.0 lists repeated headers apart in multiValueHeaders; 2.0 joins repeats with
    # commas, which no compact JWS contains, so a joined pair fails as one bad proof.
    wanted = PROOF_HEADER.lower()
    multi = _mapping(event.get("multiValueHeaders"))
    values = [
        _text(v)
        for name, listed in multi.items()
        if str(name).lower() == wanted and isinstance(listed, list)
        for v in listed
        if isinstance(v, str)
    ]
    if values:
        return tuple(values)
    return (headers[wanted],) if wanted in headers else ()


def event_environ(event: Mapping[str, Any], request_id: str) -> Environ:
    """The WSGI environ of an API Gateway proxy event (payload 1.0 or 2.0).

    Raises ExchangeError(MALFORMED_REQUEST) for a body that is not text or not base64.
    """
    body = _event_body(event)
    context = _mapping(event.get("requestContext"))
    if event.get("version") == "2.0":
        http = _mapping(context.get("http"))
        method, path = http.get("method"), event.get("rawPath")
    else:
        # The full path, stage included, as the client addressed it.
        method, path = event.get("httpMethod"), context.get("path", event.get("path"))
    headers = {
        str(name).lower(): _text(value)
        for name, value in _mapping(event.get("headers")).items()
        if isinstance(value, str)
    }
    # API Gateway routed the request here: the path it matched is the app's mount point.
    mount = _text(path)
    script_name, path_info = (mount[:-1], "/") if mount.endswith("/") else (mount, "")
    environ: Environ = {
        "REQUEST_METHOD": _text(method),
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": "",
        "SERVER_NAME": _text(context.get("domainName")) or headers.get("host", "lambda"),
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        REQUEST_ID_KEY: request_id,
        PROOFS_KEY: _event_proofs(event, headers),
    }
    for name, value in headers.items():
        key = "HTTP_" + name.upper().replace("-", "_")
        if name in {"content-type", "content-length"}:
            key = key[5:]
        if key != "CONTENT_LENGTH":  # the body's real length, set above
            environ[key] = value
    if isinstance(context.get("domainName"), str):
        # API Gateway's own name for the host, not whatever the client sent.
        environ["HTTP_HOST"] = environ["SERVER_NAME"]
    return environ


def _request_id(event: Mapping[str, Any], context: object) -> str:
    request_id = getattr(context, "aws_request_id", None)
    if not isinstance(request_id, str):
        request_id = _mapping(event.get("requestContext")).get("requestId")
    return request_id if isinstance(request_id, str) and request_id.isprintable() else ""


def _proxy_response(status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": dict(headers),
        "body": body.decode("utf-8"),
        "isBase64Encoded": False,
    }


def _error_response(exc: ExchangeError) -> dict[str, Any]:
    body = json.dumps(exc.to_body()).encode()
    headers = {"Content-Type": "application/json", "Cache-Control": "no-store"}
    return _proxy_response(int(exc.status), headers, body)


class LambdaAdapter:
    """Turn API Gateway proxy events into WSGI calls of the exchange app, and back."""

    def __init__(self, app: ExchangeApp) -> None:
        self._app = app

    def __call__(self, event: object, context: object = None) -> dict[str, Any]:
        """Handle one API Gateway event (payload 1.0 or 2.0)."""
        if not isinstance(event, Mapping):
            return _error_response(ExchangeError(ErrorCode.MALFORMED_REQUEST, "not an event"))
        try:
            environ = event_environ(event, _request_id(event, context))
        except ExchangeError as exc:
            return _error_response(exc)
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            answer["status"] = int(status.split(" ", 1)[0])
            answer["headers"] = dict(headers)

        body = b"".join(self._app(environ, start_response))
        return _proxy_response(answer["status"], answer["headers"], body)


_adapter: LambdaAdapter | None = None
_adapter_lock = threading.Lock()


def _default_adapter() -> LambdaAdapter:
    global _adapter
    with _adapter_lock:
        if _adapter is None:
            config = config_from_env(os.environ)
            # The function's own credentials come from its execution role: every
            # AssumeRole it makes is role chaining.
            check_role_chaining(config)
            _adapter = LambdaAdapter(ExchangeApp(build_service(config)))
        return _adapter


def reset() -> None:
    """Forget the built service, so the next event re-reads the environment (for tests)."""
    global _adapter
    with _adapter_lock:
        _adapter = None


def handler(event: object, context: object) -> dict[str, Any]:
    """The Lambda function handler.

    Configure it as ``endorse_ble.exchange.lambda_handler.handler``.
    """
    try:
        adapter = _default_adapter()
    except ConfigError as exc:
        # The details are for the operator's log, not for whoever sent the token.
        log.error("exchange configuration is invalid: %s", exc.message)
        return _error_response(
            ExchangeError(ErrorCode.MISCONFIGURED, "the exchange is misconfigured")
        )
    return adapter(event, context)
