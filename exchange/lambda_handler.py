"""AWS Lambda entry point: ``endorse_ble.exchange.lambda_handler.handler``.

Accepts API Gateway REST API (payload format 1.0) and HTTP API (2.0) proxy events, with
plain or base64-encoded bodies, and answers in the matching proxy response format. The
service is built on the first invocation (no work at import) and reused while the Lambda
execution environment stays warm, so the key cache and the memory replay cache persist
across invocations of one instance.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from endorse_ble.exchange.app import build_service
from endorse_ble.exchange.config import config_from_env
from endorse_ble.exchange.errors import ConfigError, ErrorCode, ExchangeError
from endorse_ble.exchange.service import ExchangeService, HttpRequest, error_response
from endorse_ble.tokenlink.key_binding import PROOF_HEADER

log = logging.getLogger(__name__)

RESPONSE_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


def _event_method(event: Mapping[str, Any]) -> str:
    # Payload 2.0 keeps the method under requestContext.http; 1.0 at the top level.
    if event.get("version") == "2.0":
        context = event.get("requestContext")
        http = context.get("http") if isinstance(context, dict) else None
        method = http.get("method") if isinstance(http, dict) else None
    else:
        method = event.get("httpMethod")
    return method if isinstance(method, str) else ""


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
    return body.encode("utf-8")


def _event_proofs(event: Mapping[str, Any]) -> tuple[str, ...]:
    # Header names are case-insensitive: payload 1.0 keeps the client's case (and lists
    # repeats in multiValueHeaders), 2.0 lower-cases them and joins repeats with commas,
    # which no compact JWS contains, so a joined pair fails as one bad proof.
    wanted = PROOF_HEADER.lower()
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict):
        values = [
            v for k, vs in multi.items() if k.lower() == wanted and isinstance(vs, list) for v in vs
        ]
        if values:
            return tuple(str(v) for v in values)
    headers = event.get("headers")
    if not isinstance(headers, dict):
        return ()
    return tuple(str(v) for k, v in headers.items() if k.lower() == wanted and v is not None)


def _event_url(event: Mapping[str, Any]) -> str:
    # The URL the client addressed, from API Gateway's request context: its domain name and
    # the full path (1.0: requestContext.path, with the stage; 2.0: rawPath).
    context = event.get("requestContext")
    if not isinstance(context, dict):
        return ""
    domain = context.get("domainName")
    path = event.get("rawPath") if event.get("version") == "2.0" else context.get("path")
    if not isinstance(domain, str) or not isinstance(path, str):
        return ""
    return f"https://{domain}{path}"


def _proxy_response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": dict(RESPONSE_HEADERS),
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


class LambdaAdapter:
    """Turn API Gateway proxy events into service calls and back."""

    def __init__(self, service: ExchangeService) -> None:
        self._service = service

    def __call__(self, event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
        """Handle one API Gateway event (payload 1.0 or 2.0)."""
        try:
            body = _event_body(event)
        except ExchangeError as exc:
            return _proxy_response(*error_response(exc))
        request = HttpRequest(_event_method(event), body, _event_url(event), _event_proofs(event))
        return _proxy_response(*self._service.handle(request))


_adapter: LambdaAdapter | None = None
_adapter_lock = threading.Lock()


def _default_adapter() -> LambdaAdapter:
    global _adapter
    with _adapter_lock:
        if _adapter is None:
            _adapter = LambdaAdapter(build_service(config_from_env(os.environ)))
        return _adapter


def reset() -> None:
    """Forget the built service, so the next event re-reads the environment (for tests)."""
    global _adapter
    with _adapter_lock:
        _adapter = None


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """The Lambda function handler.

    Configure it as ``endorse_ble.exchange.lambda_handler.handler``.
    """
    try:
        adapter = _default_adapter()
    except ConfigError as exc:
        # The details are for the operator's log, not for whoever sent the token.
        log.error("exchange configuration is invalid: %s", exc.message)
        return _proxy_response(
            *error_response(ExchangeError(ErrorCode.MISCONFIGURED, "the exchange is misconfigured"))
        )
    return adapter(event, context)
