"""The exchange API end to end, over every transport, with STS and DynamoDB in moto.

One table of requests runs against the Lambda handler (API Gateway payload 1.0 with a
plain body, 2.0 with a base64 body) and the local HTTP server (real HTTP requests); each
case must get its documented status and code, never a traceback, and the token must
never appear in the logs.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from endorse_ble.exchange import lambda_handler
from endorse_ble.exchange.app import build_app
from endorse_ble.exchange.config import ExchangeConfig, load_config_file
from endorse_ble.exchange.http_server import ExchangeServer
from endorse_ble.exchange.lambda_handler import LambdaAdapter
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.endorse_keys import EndorseSigner, SimIdentity
from endorse_ble.testbed.exchange.pytest_fixtures import closed_port_url
from tests import exchange_tokens as tk

Post = Callable[[bytes], tuple[int, dict[str, Any]]]
TRANSPORTS = ["lambda-v1", "lambda-v2-base64", "http"]
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
OTHER_SIM = SimIdentity(imsi="440109999999999")
MOVED_SIM = SimIdentity(imei="490154203237518")


def v1_event(body: bytes, method: str = "POST") -> dict[str, Any]:
    """An API Gateway REST API (payload 1.0) proxy event with a plain-text body."""
    return {
        "resource": "/",
        "path": "/",
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "requestContext": {"httpMethod": method, "stage": "prod"},
        "body": body.decode("latin-1"),
        "isBase64Encoded": False,
    }


def v2_event(body: bytes, method: str = "POST") -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event with a base64-encoded body."""
    return {
        "version": "2.0",
        "routeKey": "POST /",
        "rawPath": "/",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": method, "path": "/"}, "stage": "$default"},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def _lambda_post(adapter: LambdaAdapter, make_event: Callable[[bytes], dict[str, Any]]) -> Post:
    def post(body: bytes) -> tuple[int, dict[str, Any]]:
        answer = adapter(make_event(body), None)
        assert answer["headers"]["Content-Type"] == "application/json"
        return answer["statusCode"], json.loads(answer["body"])

    return post


def _http_post(url: str) -> Post:
    parts = urlsplit(url)

    def post(body: bytes) -> tuple[int, dict[str, Any]]:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        try:
            conn.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            assert response.getheader("Content-Type") == "application/json"
            return response.status, json.loads(response.read())
        finally:
            conn.close()

    return post


@contextmanager
def open_transport(kind: str, config: ExchangeConfig) -> Iterator[Post]:
    """A ``post(body)`` for the exchange built from ``config`` behind transport ``kind``."""
    app = build_app(config)
    if kind == "http":
        server = ExchangeServer(app, config, "127.0.0.1", 0)
        server.start()
        try:
            yield _http_post(server.url)
        finally:
            server.stop()
    else:
        yield _lambda_post(LambdaAdapter(app), v1_event if kind == "lambda-v1" else v2_event)


@dataclass
class Ctx:
    """What a case needs to build its requests."""

    signer: EndorseSigner  # the simulator's key: its kid is in the keystore
    stranger: EndorseSigner  # a key the keystore has never heard of


def body(token: str, **extra: Any) -> bytes:
    """A JSON request body carrying ``token``."""
    return json.dumps({"token": token, **extra}).encode()


def good(ctx: Ctx, sim: SimIdentity = SimIdentity(), **params: str) -> str:  # noqa: B008
    """A fresh token from the simulator's key."""
    return ctx.signer.mint(sim, request_parameters=params or None)


def _changed(ctx: Ctx, **changes: Any) -> str:
    payload = tk.payload(time.time())
    payload.update(changes)
    return tk.sign(ctx.signer, payload)


def _missing(ctx: Ctx, claim: str) -> str:
    payload = tk.payload(time.time())
    del payload[claim]
    return tk.sign(ctx.signer, payload)


HEX = "a" * 32
# (id, config variant, requests (all but the last must not fail), status, error code)
CASES: list[tuple[str, str, Callable[[Ctx], list[bytes]], int, str | None]] = [
    ("ok", "default", lambda c: [body(good(c))], 200, None),
    ("ok-with-nonce", "default", lambda c: [body(good(c, nonce="nonce-one"), nonce="nonce-one")],
     200, None),
    ("ok-dynamodb", "dynamodb", lambda c: [body(good(c))], 200, None),
    ("alg-none", "default", lambda c: [body(tk.alg_none(c.signer, tk.payload(time.time())))],
     401, "unsupported_algorithm"),
    ("hs256-public-pem", "default",
     lambda c: [body(tk.hs256_with_public_key(c.signer, tk.payload(time.time())))],
     401, "unsupported_algorithm"),
    ("unknown-kid", "default", lambda c: [body(c.stranger.mint(SimIdentity()))],
     401, "unknown_kid"),
    ("kid-traversal", "default",
     lambda c: [body(tk.sign(c.signer, tk.payload(time.time()), kid="../../" + c.signer.kid))],
     401, "invalid_kid"),
    ("kid-absolute-url", "default",
     lambda c: [body(tk.sign(c.signer, tk.payload(time.time()),
                             kid=f"https://evil.example/v1-{HEX}-x509.pem"))],
     401, "invalid_kid"),
    ("kid-encoded-slash", "default",
     lambda c: [body(tk.sign(c.signer, tk.payload(time.time()), kid=f"..%2Fv1-{HEX}-x509.pem"))],
     401, "invalid_kid"),
    ("bit-flipped-signature", "default", lambda c: [body(tk.flip_signature_bit(good(c)))],
     401, "bad_signature"),
    ("expired", "default", lambda c: [body(c.signer.mint(SimIdentity(), now=time.time() - 700))],
     401, "token_expired"),
    ("not-yet-valid", "default",
     lambda c: [body(c.signer.mint(SimIdentity(), now=time.time() + 600))],
     401, "token_not_yet_valid"),
    ("too-old", "default",
     lambda c: [body(c.signer.mint(SimIdentity(), now=time.time() - 8000, lifetime=86400))],
     401, "token_too_old"),
    ("wrong-iss", "default", lambda c: [body(_changed(c, iss="https://evil.example"))],
     401, "invalid_claims"),
    ("wrong-aud", "default", lambda c: [body(_changed(c, aud="someone-else"))],
     401, "invalid_claims"),
    ("wrong-sub", "default", lambda c: [body(_changed(c, sub="someone-else"))],
     401, "invalid_claims"),
    ("missing-jti", "default", lambda c: [body(_missing(c, "jti"))], 401, "invalid_claims"),
    ("missing-exp", "default", lambda c: [body(_missing(c, "exp"))], 401, "invalid_claims"),
    ("missing-endorse-claim", "default", lambda c: [body(_missing(c, "soracom-endorse-claim"))],
     401, "invalid_claims"),
    ("1MiB-token", "default", lambda c: [body("A" * (1024 * 1024))], 413, "request_too_large"),
    ("10KiB-token", "default", lambda c: [body("A" * 10240)], 413, "token_too_large"),
    ("not-a-jwt", "default", lambda c: [body("abc.def")], 400, "malformed_token"),
    ("non-json", "default", lambda c: [b"token=abc"], 400, "malformed_request"),
    ("binary-body", "default", lambda c: [b"\xff\xfe\x00\x01"], 400, "malformed_request"),
    ("empty-body", "default", lambda c: [b""], 400, "malformed_request"),
    ("deeply-nested-json", "default", lambda c: [b"[" * 15000], 400, "malformed_request"),
    ("deeply-nested-header", "default",
     lambda c: [body(tk.b64url(b"[" * 5000) + ".e30.c2ln")], 400, "malformed_token"),
    ("json-array", "default", lambda c: [b'["token"]'], 400, "malformed_request"),
    ("token-not-string", "default", lambda c: [b'{"token": 5}'], 400, "malformed_request"),
    ("no-token", "default", lambda c: [b'{"nonce": "n"}'], 400, "malformed_request"),
    ("nonce-not-string", "default", lambda c: [body(good(c), nonce=7)], 400, "malformed_request"),
    ("nonce-outside-rule", "default", lambda c: [body(good(c), nonce="a b")], 400,
     "malformed_request"),
    ("replay-memory", "default", lambda c: [body(t := good(c)), body(t)], 409, "token_replayed"),
    ("replay-dynamodb", "dynamodb", lambda c: [body(t := good(c)), body(t)],
     409, "token_replayed"),
    ("imsi-not-allowed", "default", lambda c: [body(good(c, OTHER_SIM))], 403, "imsi_not_allowed"),
    ("imei-mismatch", "default", lambda c: [body(good(c, MOVED_SIM))], 403, "imei_mismatch"),
    ("nonce-required-missing", "nonce", lambda c: [body(good(c, nonce="nonce-one"))],
     403, "nonce_required"),
    ("nonce-mismatch", "nonce", lambda c: [body(good(c, nonce="nonce-one"), nonce="nonce-two")],
     403, "nonce_mismatch"),
    ("nonce-not-in-token", "default", lambda c: [body(good(c), nonce="nonce-two")],
     403, "nonce_mismatch"),
    ("sts-down", "sts_down", lambda c: [body(good(c))], 502, "issuer_failed"),
    ("invalid-role-arn", "bad_role", lambda c: [body(good(c))], 502, "issuer_failed"),
    ("keystore-rate-limited", "rate_limited",
     lambda c: [body(good(c)), body(c.stranger.mint(SimIdentity()))],
     429, "keystore_rate_limited"),
    ("keystore-down", "keystore_down", lambda c: [body(good(c))], 502, "keystore_unavailable"),
]  # fmt: skip


@pytest.fixture(scope="module")
def stranger() -> EndorseSigner:
    """A signing key the keystore does not serve."""
    s = EndorseSigner(key_bits=2048)
    s.public_pem()
    return s


@pytest.fixture
def variant_config(
    exchange_config_file: Callable[..., Path], request: pytest.FixtureRequest
) -> Callable[[str], ExchangeConfig]:
    """Build the named config variant used by a case (a DynamoDB table only when needed)."""
    sim = SimIdentity()

    def make(variant: str) -> ExchangeConfig:
        options: dict[str, Any] = {
            "default": {},
            "nonce": {"require_nonce": True},
            "dynamodb": {
                "replay_backend": "dynamodb",
                "replay_table": request.getfixturevalue("replay_table")
                if variant == "dynamodb"
                else "",
            },
            "sts_down": {"aws_endpoint_url": closed_port_url()},
            "bad_role": {"allow": [{"imsi": sim.imsi, "role_arn": "arn:bad"}]},
            "rate_limited": {"keystore_options": {"fetch_burst": 1, "fetches_per_minute": 1}},
            "keystore_down": {"keystore_url": closed_port_url() + "/keys/"},
        }[variant]
        return load_config_file(exchange_config_file(**options))

    return make


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("variant", "requests", "status", "code"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_api_cases(
    transport: str,
    variant: str,
    requests: Callable[[Ctx], list[bytes]],
    status: int,
    code: str | None,
    variant_config: Callable[[str], ExchangeConfig],
    exchange_endorse: EndorseSimulator,
    stranger: EndorseSigner,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each request gets its documented status and code, and the token is never logged."""
    # Our modules at DEBUG; third-party wire dumps (botocore DEBUG prints whole STS
    # responses) are the operator's choice and stay at INFO here.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="endorse_ble.exchange")
    bodies = requests(Ctx(exchange_endorse.signer, stranger))
    with open_transport(transport, variant_config(variant)) as post:
        answers = [post(b) for b in bodies]
    for earlier_status, _ in answers[:-1]:
        assert earlier_status == 200
    got_status, got = answers[-1]
    assert (got_status, got.get("error")) == (status, code), got
    if code is None:
        assert set(got) == {"credentials", "subject"}
        creds = got["credentials"]
        assert set(creds) == {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
        assert RFC3339_UTC.fullmatch(creds["Expiration"])
        assert got["subject"] == {"imsi": SimIdentity().imsi, "imei": SimIdentity().imei}
    else:
        assert set(got) == {"error", "message"}
        assert "Traceback" not in got["message"]
    for raw in bodies:
        token = json.loads(raw).get("token") if raw.startswith(b"{") else None
        if isinstance(token, str) and len(token) > 20:
            assert token not in caplog.text
            assert token not in json.dumps(got)
            if code is None:
                assert creds["SecretAccessKey"] not in caplog.text


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_only_post_is_allowed(
    transport: str, variant_config: Callable[[str], ExchangeConfig]
) -> None:
    """GET is answered 405 method_not_allowed by every transport."""
    config = variant_config("default")
    if transport == "http":
        server = ExchangeServer(build_app(config), config, "127.0.0.1", 0)
        server.start()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.request("GET", "/")
            response = conn.getresponse()
            status, answer = response.status, json.loads(response.read())
            conn.close()
        finally:
            server.stop()
    else:
        make = v1_event if transport == "lambda-v1" else v2_event
        result = LambdaAdapter(build_app(config))(make(b"", method="GET"), None)
        status, answer = result["statusCode"], json.loads(result["body"])
    assert (status, answer["error"]) == (405, "method_not_allowed")


def test_lambda_accepts_v1_base64_and_v2_plain(
    variant_config: Callable[[str], ExchangeConfig], exchange_endorse: EndorseSimulator
) -> None:
    """Both payload versions work with either body encoding; bad base64 is a 400."""
    adapter = LambdaAdapter(build_app(variant_config("default")))
    v1 = v1_event(body(good(Ctx(exchange_endorse.signer, exchange_endorse.signer))))
    v1["body"] = base64.b64encode(v1["body"].encode()).decode()
    v1["isBase64Encoded"] = True
    assert adapter(v1, None)["statusCode"] == 200
    v2 = v2_event(b"")
    v2["body"] = body(good(Ctx(exchange_endorse.signer, exchange_endorse.signer))).decode()
    v2["isBase64Encoded"] = False
    assert adapter(v2, None)["statusCode"] == 200
    v2["body"], v2["isBase64Encoded"] = "!!not base64!!", True
    result = adapter(v2, None)
    assert (result["statusCode"], json.loads(result["body"])["error"]) == (
        400,
        "malformed_request",
    )


def test_lambda_handler_reads_its_config_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    exchange_config_file: Callable[..., Path],
    exchange_endorse: EndorseSimulator,
) -> None:
    """``handler`` builds the service from EXCHANGE_CONFIG_FILE on its first event."""
    monkeypatch.setenv("EXCHANGE_CONFIG_FILE", str(exchange_config_file()))
    lambda_handler.reset()
    try:
        token = exchange_endorse.signer.mint(SimIdentity())
        result = lambda_handler.handler(v2_event(body(token)), None)
        assert result["statusCode"] == 200
        again = lambda_handler.handler(v1_event(body(token)), None)
        assert json.loads(again["body"])["error"] == "token_replayed"
    finally:
        lambda_handler.reset()


@pytest.mark.parametrize(
    ("variable", "value", "logged"),
    [
        ("EXCHANGE_KEYSTORE_URL", "http://keys.example/", "keystore.url"),
        # Above 3600 s every AssumeRole of the function (role chaining) would fail.
        ("EXCHANGE_CREDENTIALS_DURATION_SECONDS", "7200", "role chaining"),
    ],
)
def test_lambda_handler_hides_configuration_errors(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    variable: str,
    value: str,
    logged: str,
) -> None:
    """A broken configuration answers 500 misconfigured, with details only in the log."""
    monkeypatch.setenv(variable, value)
    lambda_handler.reset()
    try:
        result = lambda_handler.handler(v1_event(b"{}"), None)
    finally:
        lambda_handler.reset()
    answer = json.loads(result["body"])
    assert (result["statusCode"], answer["error"]) == (500, "misconfigured")
    assert logged.split(".")[0] not in answer["message"]
    assert logged in caplog.text


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"version": "2.0", "requestContext": "x", "body": "{}"},
        {"version": "2.0", "requestContext": {"http": None}},
        {"httpMethod": "POST", "body": 5},
    ],
)
def test_lambda_survives_odd_events(
    event: dict[str, Any], variant_config: Callable[[str], ExchangeConfig]
) -> None:
    """Events missing their method or with a non-text body get a 4xx, not a crash."""
    result = LambdaAdapter(build_app(variant_config("default")))(event, None)
    assert result["statusCode"] in (400, 405)
    assert set(json.loads(result["body"])) == {"error", "message"}
