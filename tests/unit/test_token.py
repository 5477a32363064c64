"""The token model reads Endorse-shaped JWTs and names what is wrong with anything else."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.tokenlink.errors import TokenFormatError, TokenFormatReason
from endorse_ble.tokenlink.token import MAX_TOKEN_BYTES, parse_token


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(header: Any, payload: Any, signature: bytes = b"\x01" * 256) -> str:
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)]
    )


HEADER = {"kid": "v1-0123456789abcdef0123456789abcdef-x509.pem", "alg": "RS256"}
PAYLOAD = {
    "iss": "https://soracom.io",
    "aud": "soracom-endorse-audience",
    "sub": "soracom-endorse",
    "jti": "AAAAAAAAAAAAAAAAAAAAAA",
    "iat": 1_700_000_000,
    "nbf": 1_699_999_940,
    "exp": 1_700_000_600,
    "soracom-endorse-claim": {
        "imsi": "440103123456789",
        "imei": "356938035643809",
        "requestParameters": {"nonce": "abc123"},
    },
}


def test_parses_every_field_of_an_endorse_token() -> None:
    """A token shaped like a real Endorse token yields its header, claims and SIM identity."""
    token = parse_token(make_jwt(HEADER, PAYLOAD))
    assert token.header.alg == "RS256"
    assert token.header.kid == HEADER["kid"]
    assert token.issuer == "https://soracom.io"
    assert token.audience == ("soracom-endorse-audience",)
    assert token.subject == "soracom-endorse"
    assert token.jwt_id == "AAAAAAAAAAAAAAAAAAAAAA"
    assert (token.issued_at, token.not_before, token.expires_at) == (
        1_700_000_000,
        1_699_999_940,
        1_700_000_600,
    )
    assert token.claim.imsi == "440103123456789"
    assert token.claim.imei == "356938035643809"
    assert token.claim.msisdn is None
    assert token.nonce == "abc123"


def test_signed_token_from_the_testbed_signer_parses() -> None:
    """Tokens minted by the testbed's Endorse signer are read back with the same identity."""
    from endorse_ble.testbed.endorse_keys import EndorseSigner, SimIdentity

    sim = SimIdentity(imsi="001010000000001", imei="490154203237518")
    raw = EndorseSigner().mint(sim, lifetime=180, now=1_000_000, request_parameters={"n": "1"})
    token = parse_token(raw)
    assert token.claim.imsi == sim.imsi
    assert token.claim.imei == sim.imei
    assert token.expires_at == 1_000_180
    assert token.not_before == 1_000_000 - 60
    assert token.claim.request_parameters == {"n": "1"}
    assert set(json.loads(base64.urlsafe_b64decode(raw.split(".")[0] + "=="))) == {"kid", "alg"}


def test_expiry_maths() -> None:
    """Seconds left and expiry with leeway follow exp."""
    token = parse_token(make_jwt(HEADER, PAYLOAD))
    assert token.seconds_left(1_700_000_500) == 100
    assert not token.is_expired(1_700_000_500)
    assert token.is_expired(1_700_000_500, leeway=100)
    assert token.is_expired(1_700_000_600)


def test_repr_never_contains_the_token() -> None:
    """A token printed in a log or traceback shows only its length and hash prefix."""
    raw = make_jwt(HEADER, PAYLOAD)
    token = parse_token(raw)
    text = repr(token) + str(token)
    assert raw not in text
    assert raw.split(".")[2] not in text
    assert token.fingerprint in text


def _payload_without(*path: str) -> dict[str, Any]:
    payload = json.loads(json.dumps(PAYLOAD))
    node = payload
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return payload


@pytest.mark.parametrize(
    ("raw", "reason", "field"),
    [
        ("", TokenFormatReason.EMPTY, "token"),
        ("a.b", TokenFormatReason.SEGMENT_COUNT, "token"),
        ("a.b.c.d", TokenFormatReason.SEGMENT_COUNT, "token"),
        ("!!!.e30.AA", TokenFormatReason.BAD_BASE64, "header"),
        ("e30.a.AA", TokenFormatReason.BAD_BASE64, "payload"),
        (b64(b"{not json") + ".e30.AA", TokenFormatReason.BAD_JSON, "header"),
        (b64(b"\xff\xfe") + ".e30.AA", TokenFormatReason.BAD_JSON, "header"),
        (b64(b"[1,2]") + ".e30.AA", TokenFormatReason.NOT_OBJECT, "header"),
        (make_jwt({"kid": "x"}, PAYLOAD), TokenFormatReason.MISSING_CLAIM, "header.alg"),
        (make_jwt(HEADER, _payload_without("exp")), TokenFormatReason.MISSING_CLAIM, "exp"),
        (
            make_jwt(HEADER, _payload_without("soracom-endorse-claim")),
            TokenFormatReason.MISSING_CLAIM,
            "soracom-endorse-claim",
        ),
        (
            make_jwt(HEADER, _payload_without("soracom-endorse-claim", "imsi")),
            TokenFormatReason.MISSING_CLAIM,
            "soracom-endorse-claim.imsi",
        ),
        (make_jwt(HEADER, {**PAYLOAD, "exp": "soon"}), TokenFormatReason.BAD_CLAIM, "exp"),
        (make_jwt(HEADER, {**PAYLOAD, "exp": True}), TokenFormatReason.BAD_CLAIM, "exp"),
        (make_jwt(HEADER, {**PAYLOAD, "aud": [1]}), TokenFormatReason.BAD_CLAIM, "aud"),
        (
            make_jwt(HEADER, {**PAYLOAD, "soracom-endorse-claim": "imsi"}),
            TokenFormatReason.BAD_CLAIM,
            "soracom-endorse-claim",
        ),
        ("é.e30.AA", TokenFormatReason.NOT_ASCII, "token"),
        ("x" * (MAX_TOKEN_BYTES + 1), TokenFormatReason.OVERSIZED, "token"),
    ],
)
def test_malformed_tokens_name_the_fault(raw: str, reason: TokenFormatReason, field: str) -> None:
    """Each kind of malformed input raises TokenFormatError with its reason and location."""
    with pytest.raises(TokenFormatError) as info:
        parse_token(raw)
    assert info.value.reason is reason
    assert info.value.field == field


def test_non_ascii_bytes_are_refused() -> None:
    """Raw bytes from the air that are not ASCII are refused before any decoding."""
    with pytest.raises(TokenFormatError) as info:
        parse_token(b"\xff" + make_jwt(HEADER, PAYLOAD).encode())
    assert info.value.reason is TokenFormatReason.NOT_ASCII


@given(st.binary(max_size=2048))
def test_arbitrary_bytes_parse_or_raise_token_format_error(data: bytes) -> None:
    """Hostile input never escapes as anything but TokenFormatError."""
    with contextlib.suppress(TokenFormatError):
        parse_token(data)


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789-_.", max_size=600))
def test_arbitrary_jwt_alphabet_text_parse_or_raise(text: str) -> None:
    """Text made of the JWT alphabet (the likely shape of garbage) raises only TokenFormatError."""
    with contextlib.suppress(TokenFormatError):
        parse_token(text)


claims = st.fixed_dictionaries(
    {
        "imsi": st.text(alphabet="0123456789", min_size=5, max_size=15),
        "imei": st.text(alphabet="0123456789", min_size=14, max_size=16),
    },
    optional={
        "msisdn": st.text(alphabet="0123456789", max_size=15),
        "requestParameters": st.dictionaries(st.text(max_size=10), st.text(max_size=40)),
    },
)


@given(claims, st.integers(0, 2**40), st.integers(1, 100_000), st.binary(max_size=512))
def test_round_trip_of_generated_tokens(
    claim: dict[str, Any], iat: int, lifetime: int, signature: bytes
) -> None:
    """Any well-formed token's claims come back exactly as encoded."""
    payload = {**PAYLOAD, "iat": iat, "exp": iat + lifetime, "soracom-endorse-claim": claim}
    raw = make_jwt(HEADER, payload, signature)
    token = parse_token(raw)
    assert token.raw == raw
    assert token.expires_at == iat + lifetime
    assert token.claim.imsi == claim["imsi"]
    assert token.claim.imei == claim["imei"]
    assert token.claim.msisdn == claim.get("msisdn")
    assert dict(token.claim.request_parameters) == claim.get("requestParameters", {})
