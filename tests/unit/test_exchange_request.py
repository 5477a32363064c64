"""Both transports hand the core the same request model: method, URL, DPoP proofs, body."""

from __future__ import annotations

import base64
from typing import Any

from endorse_ble.exchange.lambda_handler import event_environ
from endorse_ble.exchange.wsgi import request_proofs, request_url

WAITRESS_ENVIRON: dict[str, Any] = {
    "REQUEST_METHOD": "POST",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/",
    "QUERY_STRING": "x=1",
    "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "8080",
    "HTTP_HOST": "127.0.0.1:8080",
    "CONTENT_TYPE": "application/json",
    "CONTENT_LENGTH": "2",
    "HTTP_DPOP": "proof",
    "wsgi.url_scheme": "http",
}


def test_the_local_server_request_keeps_url_and_proof() -> None:
    """The URL as addressed (no query: a proof's htu has none) and the DPoP value."""
    assert request_url(WAITRESS_ENVIRON) == "http://127.0.0.1:8080/"
    assert request_proofs(WAITRESS_ENVIRON) == ("proof",)
    assert request_proofs({}) == ()


def test_an_http_api_event_becomes_the_same_request() -> None:
    """Payload 2.0: API Gateway's domain name and the raw path; Host from API Gateway."""
    event = {
        "version": "2.0",
        "rawPath": "/exchange",
        "headers": {"host": "evil.example", "dpop": "p1,p2", "content-length": "9"},
        "requestContext": {"http": {"method": "POST"}, "domainName": "abc.execute-api.example"},
        "body": base64.b64encode(b"{}").decode(),
        "isBase64Encoded": True,
    }
    environ = event_environ(event, "req-1")
    assert request_url(environ) == "https://abc.execute-api.example/exchange"
    assert request_proofs(environ) == ("p1,p2",)  # joined repeats: one (bad) proof
    assert environ["CONTENT_LENGTH"] == "2"  # the body's, not the client's header
    assert environ["wsgi.input"].read() == b"{}"


def test_a_rest_api_event_becomes_the_same_request() -> None:
    """Payload 1.0: the stage path as addressed; repeated DPoP headers stay apart."""
    event = {
        "httpMethod": "POST",
        "path": "/",
        "headers": {"Host": "abc.execute-api.example", "DPoP": "p2"},
        "multiValueHeaders": {"DPoP": ["p1", "p2"]},
        "requestContext": {"path": "/prod/", "domainName": "abc.execute-api.example"},
        "body": "{}",
    }
    environ = event_environ(event, "req-1")
    assert request_url(environ) == "https://abc.execute-api.example/prod/"
    assert request_proofs(environ) == ("p1", "p2")
