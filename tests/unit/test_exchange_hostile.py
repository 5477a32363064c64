"""No input yields a 500: hostile bodies, JWT headers and signed claims, through the WSGI
app and the Lambda adapter alike, each refused with a documented code.

The core runs with its real keystore cache, verifier, policy and memory replay guard; the
keystore answers from memory and STS is a stand-in issuer (the credential seam).
"""

from __future__ import annotations

import base64
import io
import json
import time
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from endorse_ble.exchange.allowlist import ConfigAllowlist
from endorse_ble.exchange.config import AllowEntry, KeystoreSettings, TokenSettings
from endorse_ble.exchange.errors import HTTP_STATUS, ErrorCode
from endorse_ble.exchange.issuer import Credentials
from endorse_ble.exchange.keystore import KeyStore
from endorse_ble.exchange.lambda_handler import LambdaAdapter
from endorse_ble.exchange.policy import AccessPolicy, Grant
from endorse_ble.exchange.replay import MemoryReplayGuard
from endorse_ble.exchange.service import ExchangeService
from endorse_ble.exchange.verifier import TokenVerifier
from endorse_ble.exchange.wsgi import ExchangeApp
from endorse_ble.testbed.endorse_keys import EndorseSigner, SimIdentity, endorse_payload

ROLE = "arn:aws:iam::123456789012:role/device"
#: What a refusal may be answered with: every code but the exchange's own faults.
REFUSALS = {
    (int(HTTP_STATUS[code]), code.value)
    for code in ErrorCode
    if code not in {ErrorCode.MISCONFIGURED, ErrorCode.INTERNAL_ERROR}
}


class MemoryFetcher:
    """A keystore answering from a dict."""

    def __init__(self, pems: dict[str, bytes]) -> None:
        self.pems = pems

    def fetch(self, url: str, max_bytes: int) -> bytes | None:
        return self.pems.get(url.rsplit("/", 1)[-1])


class StandInIssuer:
    """Credentials without STS (the issuer seam)."""

    def issue(self, grant: Grant) -> Credentials:
        return Credentials("ASIAEXAMPLE", "secret", "session", datetime.now(UTC))


SIGNER = EndorseSigner(key_bits=2048)


def _app() -> ExchangeApp:
    keys = KeyStore(
        KeystoreSettings(url="https://keys.example/", fetch_burst=1000, fetches_per_minute=1e6),
        MemoryFetcher({SIGNER.kid: SIGNER.public_pem()}),
    )
    service = ExchangeService(
        TokenVerifier(TokenSettings(), keys),
        AccessPolicy(ConfigAllowlist((AllowEntry(SimIdentity().imsi),)), ROLE, False),
        MemoryReplayGuard(100_000),
        StandInIssuer(),
        max_body_bytes=16384,
        replay_margin_seconds=30,
    )
    return ExchangeApp(service)


APP = _app()
LAMBDA = LambdaAdapter(APP)


def via_wsgi(body: bytes) -> tuple[int, dict[str, Any]]:
    """POST ``body`` to the WSGI app."""
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"] = int(status.split()[0])

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "127.0.0.1",
    }
    data = b"".join(APP(environ, start_response))
    return answer["status"], json.loads(data)


def via_lambda(body: bytes | str) -> tuple[int, dict[str, Any]]:
    """The same through an HTTP API (2.0) event: raw text, or base64 for bytes."""
    if isinstance(body, str):
        event = {"version": "2.0", "requestContext": {"http": {"method": "POST"}}, "body": body}
    else:
        event = {
            "version": "2.0",
            "requestContext": {"http": {"method": "POST"}},
            "body": base64.b64encode(body).decode(),
            "isBase64Encoded": True,
        }
    result = LAMBDA(event, None)
    return result["statusCode"], json.loads(result["body"])


def assert_documented(answer: tuple[int, dict[str, Any]]) -> None:
    """A 200 with credentials, or a documented refusal; never a 500."""
    status, body = answer
    if status == 200:
        assert set(body) == {"credentials", "subject"}
    else:
        assert (status, body.get("error")) in REFUSALS, body
        assert set(body) == {"error", "message"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(header: dict[str, Any] | str, payload: dict[str, Any] | str) -> str:
    """A compact JWS over the exact JSON texts given, RS256-signed with the known key."""
    head = header if isinstance(header, str) else json.dumps(header)
    body = payload if isinstance(payload, str) else json.dumps(payload)
    signing_input = f"{b64url(head.encode('utf-8', 'surrogatepass'))}.{b64url(body.encode())}"
    algorithm = jwt.get_algorithm_by_name("RS256")
    signature = algorithm.sign(signing_input.encode(), SIGNER.private_key)
    return f"{signing_input}.{b64url(signature)}"


def good_payload() -> dict[str, Any]:
    return endorse_payload(SimIdentity(), time.time())


def request(token: str, **extra: Any) -> bytes:
    return json.dumps({"token": token, **extra}).encode()


HUGE_INT = "1" * 5000
HEADER = {"alg": "RS256", "kid": SIGNER.kid}
KNOWN = [
    ("utf16-body", request(signed(HEADER, good_payload())).decode().encode("utf-16"),
     400, "malformed_request"),
    ("utf8-bom", b"\xef\xbb\xbf" + request("a.b.c"), 400, "malformed_request"),
    ("lone-surrogate-token", b'{"token": "\\ud800"}', 400, "malformed_token"),
    ("lone-surrogate-nonce", b'{"token": "a.b.c", "nonce": "\\udfff"}', 400, "malformed_request"),
    ("huge-int-in-body", b'{"token": "a.b.c", "n": ' + HUGE_INT.encode() + b"}",
     400, "malformed_request"),
    ("huge-int-in-header", request(b64url(b'{"alg": "RS256", "kid": ' + HUGE_INT.encode() + b"}")
                                   + ".e30.c2ln"), 400, "malformed_token"),
    ("exp-1e400", request(signed(HEADER, json.dumps(good_payload())[:-1] + ', "exp": 1e400}')),
     401, "invalid_claims"),
    ("exp-nan", request(signed(HEADER, json.dumps(good_payload())[:-1] + ', "exp": NaN}')),
     401, "invalid_claims"),
    ("exp-past-9999", request(signed(HEADER, {**good_payload(), "exp": 10**30})),
     401, "invalid_claims"),
    ("huge-int-claim", request(signed(HEADER, json.dumps(good_payload())[:-1]
                                      + ', "x": ' + "9" * 4400 + "}")),
     400, "malformed_token"),
    ("surrogate-nonce-claim",
     request(signed(HEADER, {**good_payload(), "soracom-endorse-claim": {
         "imsi": SimIdentity().imsi, "requestParameters": {"nonce": "\ud800"}}}), nonce="abcdefgh"),
     403, "nonce_mismatch"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status", "code"), [pytest.param(*case[1:], id=case[0]) for case in KNOWN]
)
@pytest.mark.parametrize("transport", [via_wsgi, via_lambda], ids=["wsgi", "lambda"])
def test_known_attacks_get_their_documented_code(
    transport: Any, body: bytes, status: int, code: str
) -> None:
    """The attack classes that once caused a 500 each get their 4xx."""
    got_status, got = transport(body)
    assert (got_status, got.get("error")) == (status, code), got


def test_a_raw_lambda_body_with_a_lone_surrogate_is_a_400() -> None:
    """A plain-text event body holding a lone surrogate is malformed, not a crash."""
    status, body = via_lambda('{"token": "\ud800"}')
    assert (status, body["error"]) == (400, "malformed_request")


JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(
    st.binary(max_size=512)
    | st.text(max_size=256).map(lambda t: t.encode("utf-8", "surrogatepass"))
)
def test_any_body_is_answered_with_a_documented_code(body: bytes) -> None:
    """Arbitrary bytes as the body."""
    assert_documented(via_wsgi(body))
    assert_documented(via_lambda(body))


@FAST
@given(st.dictionaries(st.sampled_from(["token", "nonce", "x"]), JSON_VALUES, max_size=3))
def test_any_json_object_is_answered_with_a_documented_code(data: dict[str, Any]) -> None:
    """JSON objects whose token and nonce may be anything."""
    body = json.dumps(data).encode()
    assert_documented(via_wsgi(body))


@FAST
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "alg": st.sampled_from(["RS256", "none", "HS256"]) | JSON_VALUES,
            "kid": st.just(SIGNER.kid) | JSON_VALUES,
            "typ": JSON_VALUES,
            "crit": JSON_VALUES,
            "b64": JSON_VALUES,
        },
    )
)
def test_any_jwt_header_is_answered_with_a_documented_code(header: dict[str, Any]) -> None:
    """Signed tokens whose JOSE header holds anything."""
    assert_documented(via_wsgi(request(signed(header, good_payload()))))


CLAIMS = ["iss", "aud", "sub", "jti", "iat", "nbf", "exp", "soracom-endorse-claim"]


@FAST
@given(st.dictionaries(st.sampled_from(CLAIMS), JSON_VALUES, min_size=1, max_size=3))
def test_any_signed_claims_are_answered_with_a_documented_code(changes: dict[str, Any]) -> None:
    """Correctly signed tokens whose claims hold anything."""
    payload = {**good_payload(), **changes}
    body = request(signed(HEADER, payload))
    assert_documented(via_wsgi(body))
    assert_documented(via_lambda(body))


EVENT_KEYS = ["version", "httpMethod", "rawPath", "path", "headers", "body", "isBase64Encoded"]


@FAST
@given(
    st.dictionaries(st.sampled_from(EVENT_KEYS), JSON_VALUES, max_size=5),
    st.dictionaries(st.sampled_from(["http", "path", "domainName", "requestId"]), JSON_VALUES),
)
def test_any_api_gateway_event_is_answered_with_a_documented_code(
    event: dict[str, Any], context: dict[str, Any]
) -> None:
    """Events of any shape (fields missing, of the wrong type, odd text) never crash."""
    event["requestContext"] = context
    result = LAMBDA(event, None)
    assert_documented((result["statusCode"], json.loads(result["body"])))
