"""The exchange's token verifier refuses every hostile token with its own error code."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from endorse_ble.exchange.config import DEFAULT_KID_PATTERN, KeystoreSettings, TokenSettings
from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.exchange.keystore import KeyStore
from endorse_ble.exchange.verifier import REQUIRED_CLAIMS, TokenVerifier
from endorse_ble.testbed.endorse_keys import EndorseSigner, SimIdentity
from tests import exchange_tokens as tk

NOW = 1_800_000_000.0


class DictFetcher:
    """A KeyFetcher serving PEMs from a dict and counting calls."""

    def __init__(self, pems: dict[str, bytes]) -> None:
        self.pems = pems
        self.urls: list[str] = []

    def fetch(self, url: str, max_bytes: int) -> bytes | None:
        self.urls.append(url)
        return self.pems.get(url.rsplit("/", 1)[-1])


@pytest.fixture(scope="module")
def signer() -> EndorseSigner:
    """One RSA-2048 Endorse signing key for the module."""
    s = EndorseSigner(key_bits=2048)
    s.public_pem()
    return s


@pytest.fixture
def fetcher(signer: EndorseSigner) -> DictFetcher:
    """A keystore that knows only ``signer``'s key."""
    return DictFetcher({signer.kid: signer.public_pem()})


@pytest.fixture
def verifier(fetcher: DictFetcher) -> Iterator[TokenVerifier]:
    """A verifier at a fixed clock (NOW) over a keystore cache."""
    keys = KeyStore(KeystoreSettings(url="https://keys.example/"), fetcher, clock=lambda: 0.0)
    yield TokenVerifier(TokenSettings(), keys, clock=lambda: NOW)


def refused(verifier: TokenVerifier, token: object) -> ErrorCode:
    """The code the verifier refuses ``token`` with."""
    with pytest.raises(ExchangeError) as info:
        verifier.verify(token)
    assert "eyJ" not in info.value.message
    return info.value.code


def test_accepts_a_good_token(verifier: TokenVerifier, signer: EndorseSigner) -> None:
    """A fresh Endorse token yields its IMSI, IMEI, jti and nonce."""
    raw = signer.mint(SimIdentity(), now=NOW, request_parameters={"nonce": "n-1"})
    token = verifier.verify(raw)
    assert token.claim.imsi == SimIdentity().imsi
    assert token.claim.imei == SimIdentity().imei
    assert token.nonce == "n-1"
    assert token.jwt_id is not None and len(token.jwt_id) == 22
    assert token.expires_at == int(NOW) + 600


def _claim_change(**changes: object) -> dict[str, object]:
    body = tk.payload(NOW)
    body.update(changes)
    return body


HOSTILE_KIDS = [
    "../../etc/passwd",
    "v1-" + "a" * 32 + "-x509.pem/../../other",
    "https://evil.example/v1-" + "a" * 32 + "-x509.pem",
    "//evil.example/key.pem",
    "..%2F..%2Fv1-" + "a" * 32 + "-x509.pem",
    "v1-" + "a" * 32 + "-x509.pem%2F",
    "v1-" + "A" * 32 + "-x509.pem",
    "v1-" + "a" * 32 + "-x509.pem?x=1",
    "v1-" + "a" * 32 + "-x509.pem\n",
    "v1-" + "a" * 32 + "-x509.pem#",
    "",
]


@pytest.mark.parametrize("kid", HOSTILE_KIDS)
def test_refuses_hostile_kids_before_any_fetch(
    verifier: TokenVerifier, signer: EndorseSigner, fetcher: DictFetcher, kid: str
) -> None:
    """A kid outside the strict pattern is refused and never names a URL."""
    assert refused(verifier, tk.sign(signer, tk.payload(NOW), kid=kid)) is ErrorCode.INVALID_KID
    assert fetcher.urls == []


def test_refuses_a_kid_that_is_not_a_string(verifier: TokenVerifier, signer: EndorseSigner) -> None:
    """A numeric kid is refused as an invalid kid."""
    token = tk.hand_made({"alg": "RS256", "kid": 7}, tk.payload(NOW), b"x" * 256)
    assert refused(verifier, token) is ErrorCode.INVALID_KID


def test_loose_configured_pattern_cannot_admit_traversal(fetcher: DictFetcher) -> None:
    """Even with kid_pattern '.*' a kid with '/' or '..' is refused."""
    keys = KeyStore(KeystoreSettings(url="https://k.example/", kid_pattern=".*"), fetcher)
    for kid in ("../x", "a/b", "a%2Fb", "a..b"):
        with pytest.raises(ExchangeError) as info:
            keys.get(kid)
        assert info.value.code is ErrorCode.INVALID_KID
    assert fetcher.urls == []


@pytest.mark.parametrize(
    ("name", "make", "code"),
    [
        ("alg none", lambda s: tk.alg_none(s, tk.payload(NOW)), ErrorCode.UNSUPPORTED_ALGORITHM),
        (
            "HS256 keyed with the public PEM",
            lambda s: tk.hs256_with_public_key(s, tk.payload(NOW)),
            ErrorCode.UNSUPPORTED_ALGORITHM,
        ),
        (
            "RS512 header",
            lambda s: tk.hand_made({"alg": "RS512", "kid": s.kid}, tk.payload(NOW), b"x"),
            ErrorCode.UNSUPPORTED_ALGORITHM,
        ),
        (
            "bit-flipped signature",
            lambda s: tk.flip_signature_bit(s.mint(SimIdentity(), now=NOW)),
            ErrorCode.BAD_SIGNATURE,
        ),
        (
            "unknown kid",
            lambda s: tk.sign(s, tk.payload(NOW), kid="v1-" + "0" * 32 + "-x509.pem"),
            ErrorCode.UNKNOWN_KID,
        ),
        ("expired", lambda s: s.mint(SimIdentity(), now=NOW - 700), ErrorCode.TOKEN_EXPIRED),
        (
            "not yet valid",
            lambda s: s.mint(SimIdentity(), now=NOW + 3600),
            ErrorCode.TOKEN_NOT_YET_VALID,
        ),
        (
            "too old (iat) though unexpired",
            lambda s: s.mint(SimIdentity(), now=NOW - 8000, lifetime=86400),
            ErrorCode.TOKEN_TOO_OLD,
        ),
        (
            "iat in the future",
            lambda s: tk.sign(s, _claim_change(iat=int(NOW) + 600)),
            ErrorCode.TOKEN_NOT_YET_VALID,
        ),
        (
            "wrong iss",
            lambda s: tk.sign(s, _claim_change(iss="https://evil.example")),
            ErrorCode.INVALID_CLAIMS,
        ),
        ("wrong aud", lambda s: tk.sign(s, _claim_change(aud="other")), ErrorCode.INVALID_CLAIMS),
        ("wrong sub", lambda s: tk.sign(s, _claim_change(sub="other")), ErrorCode.INVALID_CLAIMS),
        (
            "exp not a number",
            lambda s: tk.sign(s, _claim_change(exp="tomorrow")),
            ErrorCode.INVALID_CLAIMS,
        ),
        ("exp a boolean", lambda s: tk.sign(s, _claim_change(exp=True)), ErrorCode.INVALID_CLAIMS),
        (
            "jti too long",
            lambda s: tk.sign(s, _claim_change(jti="j" * 200)),
            ErrorCode.INVALID_CLAIMS,
        ),
        (
            "IMSI not digits",
            lambda s: tk.sign(s, _claim_change(**{"soracom-endorse-claim": {"imsi": "x/../y"}})),
            ErrorCode.INVALID_CLAIMS,
        ),
        (
            "Endorse claim not an object",
            lambda s: tk.sign(s, _claim_change(**{"soracom-endorse-claim": "imsi"})),
            ErrorCode.INVALID_CLAIMS,
        ),
        ("two segments", lambda s: "abc.def", ErrorCode.MALFORMED_TOKEN),
        ("garbage", lambda s: "not a token at all", ErrorCode.MALFORMED_TOKEN),
        ("non-ASCII", lambda s: "é.é.é", ErrorCode.MALFORMED_TOKEN),
        ("not a string", lambda s: 12345, ErrorCode.MALFORMED_REQUEST),
    ],
)
def test_refuses_bad_tokens(
    verifier: TokenVerifier, signer: EndorseSigner, name: str, make: object, code: ErrorCode
) -> None:
    """Each hostile or invalid token is refused with its documented code."""
    assert callable(make)
    assert refused(verifier, make(signer)) is code


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_refuses_missing_claims(verifier: TokenVerifier, signer: EndorseSigner, claim: str) -> None:
    """A validly signed token missing any required claim is refused."""
    body = tk.payload(NOW)
    del body[claim]
    assert refused(verifier, tk.sign(signer, body)) is ErrorCode.INVALID_CLAIMS


def test_refuses_a_megabyte_token_before_parsing(
    verifier: TokenVerifier, fetcher: DictFetcher
) -> None:
    """A 1 MiB token is refused by size: it is not even split into segments."""
    huge = "." * (1024 * 1024)  # would be a segment-count error if it were parsed
    assert refused(verifier, huge) is ErrorCode.TOKEN_TOO_LARGE
    assert fetcher.urls == []


def test_leeway_admits_small_clock_skew(signer: EndorseSigner, fetcher: DictFetcher) -> None:
    """A token expired 10 s ago passes with 30 s leeway and fails with none."""
    raw = signer.mint(SimIdentity(), now=NOW - 610)
    keys = KeyStore(KeystoreSettings(url="https://k.example/"), fetcher)
    lenient = TokenVerifier(TokenSettings(leeway_seconds=30), keys, clock=lambda: NOW)
    strict = TokenVerifier(TokenSettings(leeway_seconds=0), keys, clock=lambda: NOW)
    assert lenient.verify(raw).claim.imsi == SimIdentity().imsi
    assert refused(strict, raw) is ErrorCode.TOKEN_EXPIRED


def test_real_clock_default(signer: EndorseSigner, fetcher: DictFetcher) -> None:
    """Without an injected clock the verifier uses wall-clock time."""
    keys = KeyStore(KeystoreSettings(url="https://k.example/"), fetcher)
    verifier = TokenVerifier(replace(TokenSettings()), keys)
    assert verifier.verify(signer.mint(SimIdentity(), now=time.time())).claim.imsi


def test_default_kid_pattern_matches_endorse_form() -> None:
    """The default kid pattern is Endorse's published ``v1-<32 hex>-x509.pem``."""
    assert re.fullmatch(DEFAULT_KID_PATTERN, "v1-" + "0123456789abcdef" * 2 + "-x509.pem")


def test_cached_header_does_not_admit_a_truncated_token(
    verifier: TokenVerifier, signer: EndorseSigner
) -> None:
    """After a good token, one with the same header but a missing segment is malformed."""
    good = signer.mint(SimIdentity(), now=NOW)
    verifier.verify(good)
    head, body, _ = good.split(".")
    assert refused(verifier, f"{head}.{body}") is ErrorCode.MALFORMED_TOKEN
    assert refused(verifier, f"{head}.{body}.x.y") is ErrorCode.MALFORMED_TOKEN
