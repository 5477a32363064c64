"""Key binding end to end: the local HTTP server and the Lambda handler (payload 1.0 and
2.0, DynamoDB replay store) on moto refuse every stranger, borrowed key and replay."""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from endorse_ble.central.laptop_key import LaptopKey
from endorse_ble.exchange.app import build_app
from endorse_ble.exchange.config import load_config_file
from endorse_ble.exchange.http_server import ExchangeServer
from endorse_ble.exchange.lambda_handler import LambdaAdapter
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.endorse_keys import SimIdentity
from tests import key_proofs as kp

#: (JSON body, DPoP header values) -> (status, answer)
Post = Callable[[bytes, tuple[str, ...]], tuple[int, dict[str, Any]]]
API_DOMAIN = "abc123.execute-api.ap-northeast-1.amazonaws.com"


@dataclass
class Transport:
    """Where requests go, and the URL a client would name in its proofs."""

    post: Post
    url: str


def v1_event(body: bytes, proofs: tuple[str, ...]) -> dict[str, Any]:
    """API Gateway REST API (1.0): repeated headers in multiValueHeaders, stage in the path."""
    headers = {"Content-Type": "application/json"}
    multi: dict[str, list[str]] = {"Content-Type": ["application/json"]}
    if proofs:
        headers["DPoP"] = proofs[-1]
        multi["DPoP"] = list(proofs)
    return {
        "resource": "/",
        "path": "/",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": multi,
        "requestContext": {"httpMethod": "POST", "domainName": API_DOMAIN, "path": "/prod/"},
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def v2_event(body: bytes, proofs: tuple[str, ...]) -> dict[str, Any]:
    """API Gateway HTTP API (2.0): lower-case headers, repeats joined with commas."""
    headers = {"content-type": "application/json"}
    if proofs:
        headers["dpop"] = ",".join(proofs)
    return {
        "version": "2.0",
        "routeKey": "POST /",
        "rawPath": "/",
        "headers": headers,
        "requestContext": {"http": {"method": "POST", "path": "/"}, "domainName": API_DOMAIN},
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def _http_post(url: str) -> Post:
    parts = urlsplit(url)

    def post(body: bytes, proofs: tuple[str, ...]) -> tuple[int, dict[str, Any]]:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        try:
            conn.putrequest("POST", "/")
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(body)))
            for proof in proofs:
                conn.putheader("DPoP", proof)
            conn.endheaders(body)
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()

    return post


TRANSPORTS = ["http", "lambda-v1-dynamodb", "lambda-v2-dynamodb"]


@pytest.fixture
def open_transport(
    exchange_config_file: Callable[..., Path],
    request: pytest.FixtureRequest,
    key_a: LaptopKey,
    key_b: LaptopKey,
) -> Callable[[str], Any]:
    """An exchange requiring key binding, keys A and B enrolled for the default SIM."""
    sim = SimIdentity()
    laptops = [key_a.thumbprint, key_b.thumbprint]

    @contextmanager
    def open_it(kind: str) -> Iterator[Transport]:
        options: dict[str, Any] = {
            "require_nonce": True,
            "require_key_binding": True,
            "allow": [{"imsi": sim.imsi, "imei": sim.imei, "laptops": laptops}],
        }
        if kind != "http":
            options["replay_backend"] = "dynamodb"
            options["replay_table"] = request.getfixturevalue("replay_table")
        config = load_config_file(exchange_config_file(**options))
        app = build_app(config)
        if kind == "http":
            server = ExchangeServer(app, config, "127.0.0.1", 0)
            server.start()
            try:
                yield Transport(_http_post(server.url), server.url)
            finally:
                server.stop()
            return
        adapter = LambdaAdapter(app)
        make, url = (
            (v1_event, f"https://{API_DOMAIN}/prod/")
            if kind == "lambda-v1-dynamodb"
            else (v2_event, f"https://{API_DOMAIN}/")
        )

        def post(body: bytes, proofs: tuple[str, ...]) -> tuple[int, dict[str, Any]]:
            answer = adapter(make(body, proofs), None)
            return answer["statusCode"], json.loads(answer["body"])

        yield Transport(post, url)

    return open_it


def body(token: str, nonce: str) -> bytes:
    return json.dumps({"token": token, "nonce": nonce}).encode()


@dataclass
class Keys:
    signer: Any
    a: LaptopKey
    b: LaptopKey


Request = tuple[bytes, tuple[str, ...]]


def _honest(k: Keys, url: str) -> Request:
    token, nonce = kp.bound_token(k.signer, k.a)
    return body(token, nonce), (kp.proof(k.a, token, url),)


def _stranger_own_nonce(k: Keys, url: str) -> list[Request]:
    stranger = LaptopKey.generate()
    token, nonce = kp.bound_token(k.signer, stranger)
    return [(body(token, nonce), (kp.proof(stranger, token, url),))]


def _read_laptop_token(k: Keys, url: str) -> list[Request]:
    token, nonce = kp.bound_token(k.signer, k.a)
    return [(body(token, nonce), ())]


def _key_a_token_key_b_proof(k: Keys, url: str) -> list[Request]:
    token, nonce = kp.bound_token(k.signer, k.a)
    return [(body(token, nonce), (kp.proof(k.b, token, url),))]


def _replayed_proof(k: Keys, url: str) -> list[Request]:
    first = _honest(k, url)
    return [first, first]


def _other_tokens_ath(k: Keys, url: str) -> list[Request]:
    token, nonce = kp.bound_token(k.signer, k.a)
    other, _ = kp.bound_token(k.signer, k.a)
    return [(body(token, nonce), (kp.proof(k.a, other, url),))]


def _two_proofs(k: Keys, url: str) -> list[Request]:
    raw, (proof,) = _honest(k, url)
    return [(raw, (proof, proof))]


def _forged(make: Callable[[LaptopKey, str, str], str]) -> Callable[[Keys, str], list[Request]]:
    def requests(k: Keys, url: str) -> list[Request]:
        token, nonce = kp.bound_token(k.signer, k.a)
        return [(body(token, nonce), (make(k.a, token, url),))]

    return requests


CASES: list[tuple[str, Callable[[Keys, str], list[Request]], int, str | None]] = [
    ("enrolled-laptop", lambda k, u: [_honest(k, u)], 200, None),
    ("stranger-with-own-nonce", _stranger_own_nonce, 403, "key_not_enrolled"),
    ("stranger-reads-a-laptop-token", _read_laptop_token, 401, "key_binding_required"),
    ("token-of-key-a-proof-of-key-b", _key_a_token_key_b_proof, 403, "key_mismatch"),
    ("replayed-proof", _replayed_proof, 409, "proof_replayed"),
    ("proof-for-another-token", _other_tokens_ath, 401, "bad_proof"),
    ("alg-none", _forged(kp.alg_none), 401, "bad_proof"),
    ("hs256", _forged(kp.hs256), 401, "bad_proof"),
    ("rsa-key", _forged(lambda key, t, u: kp.rsa_proof(t, u)), 401, "bad_proof"),
    ("another-url", _forged(lambda key, t, u: kp.proof(key, t, "https://other.example/")),
     401, "bad_proof"),
    ("two-proofs", _two_proofs, 401, "bad_proof"),
]  # fmt: skip


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("requests", "status", "code"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_key_binding_cases(
    transport: str,
    requests: Callable[[Keys, str], list[Request]],
    status: int,
    code: str | None,
    open_transport: Callable[[str], Any],
    exchange_endorse: EndorseSimulator,
    key_a: LaptopKey,
    key_b: LaptopKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each case gets its documented status and code; success names the key in the log."""
    caplog.set_level(logging.INFO, logger="endorse_ble.exchange")
    with open_transport(transport) as where:
        sent = requests(Keys(exchange_endorse.signer, key_a, key_b), where.url)
        answers = [where.post(b, proofs) for b, proofs in sent]
    for earlier, _ in answers[:-1]:
        assert earlier == 200
    got_status, got = answers[-1]
    assert (got_status, got.get("error")) == (status, code), got
    if code is None:
        assert got["credentials"]["AccessKeyId"].startswith("ASIA")
        assert f"jkt={key_a.thumbprint}" in caplog.text
        assert f'"jkt":"{key_a.thumbprint}"' in caplog.text  # the audit line
    for raw, proofs in sent:
        for secret in (json.loads(raw)["token"], *proofs):
            assert secret not in caplog.text


def test_binding_off_ignores_proofs(
    exchange_config_file: Callable[..., Path], exchange_endorse: EndorseSimulator
) -> None:
    """Without require_key_binding a DPoP header changes nothing, even a forged one."""
    adapter = LambdaAdapter(build_app(load_config_file(exchange_config_file())))
    token = exchange_endorse.signer.mint(SimIdentity(), request_parameters={"nonce": "n-123456"})
    answer = adapter(v2_event(body(token, "n-123456"), ("garbage",)), None)
    assert answer["statusCode"] == 200, answer["body"]


def _post_with_host(url: str, host: str, raw: bytes, proof: str) -> tuple[int, dict[str, Any]]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.putrequest("POST", "/", skip_host=True)
        for name, value in (
            ("Host", host),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(raw))),
            ("DPoP", proof),
        ):
            conn.putheader(name, value)
        conn.endheaders(raw)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("host", "htu", "status"),
    [
        ("localhost:{port}", "http://localhost:{port}/", 200),
        ("evil.example", "http://evil.example/", 401),
        ("localhost:1", "http://localhost:1/", 401),
        ("[::1", "{url}", 200),  # a malformed Host: the server's own address counts
    ],
)
def test_the_local_server_trusts_only_loopback_host_headers(
    open_transport: Callable[[str], Any],
    exchange_endorse: EndorseSimulator,
    key_a: LaptopKey,
    host: str,
    htu: str,
    status: int,
) -> None:
    """A proof naming localhost passes; a Host header naming another site (or port) cannot
    make a proof made for that site acceptable here."""
    with open_transport("http") as where:
        port = urlsplit(where.url).port
        host, htu = host.format(port=port), htu.format(port=port, url=where.url)
        token, nonce = kp.bound_token(exchange_endorse.signer, key_a)
        proof = kp.proof(key_a, token, htu)
        got_status, got = _post_with_host(where.url, host, body(token, nonce), proof)
    assert got_status == status, got
