"""The exchange's key-binding check: every forged, borrowed or replayed proof is refused."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest

from endorse_ble.central.laptop_key import LaptopKey
from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.exchange.key_binding import KeyBindingChecker, normalize_url
from endorse_ble.exchange.replay import MemoryReplayGuard
from endorse_ble.testbed.endorse_keys import EndorseSigner, SimIdentity
from endorse_ble.tokenlink.token import Token, parse_token
from tests import key_proofs as kp

URL = "https://exchange.example/"
LEEWAY = 30.0

# RFC 9449 section 4.1, figure 4: a proof for the token endpoint (no ath).
RFC_PROOF = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0Vj"
    "NoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5"
    "VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVC"
    "IsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4"
    "vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
RFC_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


@pytest.fixture(scope="module")
def signer() -> EndorseSigner:
    return EndorseSigner(key_bits=2048)


def checker(
    now: Callable[[], float] = time.time, public_url: str | None = None
) -> KeyBindingChecker:
    return KeyBindingChecker(MemoryReplayGuard(1000), LEEWAY, public_url, clock=now)


def token_for(signer: EndorseSigner, key: LaptopKey) -> Token:
    raw, _ = kp.bound_token(signer, key)
    return parse_token(raw)


def refused(
    check: KeyBindingChecker, proofs: tuple[str, ...], token: Token, *enrolled: str
) -> ErrorCode:
    with pytest.raises(ExchangeError) as info:
        check.check(proofs, method="POST", url=URL, token=token, enrolled=enrolled)
    assert "eyJ" not in info.value.message
    return info.value.code


def test_an_honest_proof_names_its_key(signer: EndorseSigner, key_a: LaptopKey) -> None:
    """A proof from the laptop code for its own bound token returns the key's thumbprint."""
    token = token_for(signer, key_a)
    proof = kp.proof(key_a, token.raw, URL)
    jkt = checker().check(
        (proof,), method="POST", url=URL, token=token, enrolled=[key_a.thumbprint]
    )
    assert jkt == key_a.thumbprint


ATTACKS: list[tuple[str, Callable[[LaptopKey, LaptopKey, str], tuple[str, ...]], ErrorCode]] = [
    ("no-proof", lambda a, b, t: (), ErrorCode.KEY_BINDING_REQUIRED),
    ("two-proofs", lambda a, b, t: (kp.proof(a, t, URL), kp.proof(a, t, URL)), ErrorCode.BAD_PROOF),
    ("alg-none", lambda a, b, t: (kp.alg_none(a, t, URL),), ErrorCode.BAD_PROOF),
    ("hs256", lambda a, b, t: (kp.hs256(a, t, URL),), ErrorCode.BAD_PROOF),
    ("rsa-key-rs256", lambda a, b, t: (kp.rsa_proof(t, URL),), ErrorCode.BAD_PROOF),
    ("rsa-jwk-es256", lambda a, b, t: (kp.rsa_key_claiming_es256(a, t, URL),), ErrorCode.BAD_PROOF),
    (
        "signed-by-b-names-a",
        lambda a, b, t: (kp.signed_by_other(a, b, t, URL),),
        ErrorCode.BAD_PROOF,
    ),
    ("typ-jwt", lambda a, b, t: (kp.proof_with_header(a, t, URL, typ="JWT"),), ErrorCode.BAD_PROOF),
    ("no-typ", lambda a, b, t: (kp.proof_with_header(a, t, URL, typ=None),), ErrorCode.BAD_PROOF),
    ("no-jwk", lambda a, b, t: (kp.proof_with_header(a, t, URL, jwk=None),), ErrorCode.BAD_PROOF),
    (
        "private-jwk",
        lambda a, b, t: (kp.proof_with_header(a, t, URL, jwk={**a.public_jwk(), "d": "AAAA"}),),
        ErrorCode.BAD_PROOF,
    ),
    (
        "point-off-curve",
        lambda a, b, t: (
            kp.proof_with_header(a, t, URL, jwk={**a.public_jwk(), "y": a.public_jwk()["x"]}),
        ),
        ErrorCode.BAD_PROOF,
    ),
    ("htm-get", lambda a, b, t: (kp.proof(a, t, URL, htm="GET"),), ErrorCode.BAD_PROOF),
    (
        "htu-other-host",
        lambda a, b, t: (kp.proof(a, t, "https://evil.example/"),),
        ErrorCode.BAD_PROOF,
    ),
    ("htu-missing", lambda a, b, t: (kp.proof(a, t, URL, htu=None),), ErrorCode.BAD_PROOF),
    ("ath-other-token", lambda a, b, t: (kp.proof(a, t + "x", URL),), ErrorCode.BAD_PROOF),
    ("ath-missing", lambda a, b, t: (kp.proof(a, t, URL, ath=None),), ErrorCode.BAD_PROOF),
    (
        "iat-old",
        lambda a, b, t: (kp.proof(a, t, URL, iat=int(time.time()) - 120),),
        ErrorCode.BAD_PROOF,
    ),
    (
        "iat-future",
        lambda a, b, t: (kp.proof(a, t, URL, iat=int(time.time()) + 120),),
        ErrorCode.BAD_PROOF,
    ),
    ("iat-string", lambda a, b, t: (kp.proof(a, t, URL, iat="now"),), ErrorCode.BAD_PROOF),
    ("iat-nan", lambda a, b, t: (kp.proof(a, t, URL, iat=float("nan")),), ErrorCode.BAD_PROOF),
    ("jti-missing", lambda a, b, t: (kp.proof(a, t, URL, jti=None),), ErrorCode.BAD_PROOF),
    ("not-a-jws", lambda a, b, t: ("abc",), ErrorCode.BAD_PROOF),
    ("huge", lambda a, b, t: ("a" * 5000 + ".b.c",), ErrorCode.BAD_PROOF),
    ("header-not-json", lambda a, b, t: ("e30x.e30.AA",), ErrorCode.BAD_PROOF),
    ("not-ascii", lambda a, b, t: ("é.e30.AA",), ErrorCode.BAD_PROOF),
    ("rfc-9449-example-without-ath", lambda a, b, t: (RFC_PROOF,), ErrorCode.BAD_PROOF),
    # Key B holds a proof for a token fetched with key A's nonce (B is enrolled too).
    ("key-b-proves-token-of-a", lambda a, b, t: (kp.proof(b, t, URL),), ErrorCode.KEY_MISMATCH),
]


@pytest.mark.parametrize(("attack", "code"), [pytest.param(a[1], a[2], id=a[0]) for a in ATTACKS])
def test_attacks_are_refused(
    signer: EndorseSigner,
    key_a: LaptopKey,
    key_b: LaptopKey,
    attack: Callable[[LaptopKey, LaptopKey, str], tuple[str, ...]],
    code: ErrorCode,
) -> None:
    """Each forged, foreign or malformed proof is refused with its documented code."""
    token = token_for(signer, key_a)
    enrolled = (key_a.thumbprint, key_b.thumbprint)
    assert refused(checker(), attack(key_a, key_b, token.raw), token, *enrolled) is code


def test_a_stranger_with_its_own_nonce_is_not_enrolled(
    signer: EndorseSigner, key_a: LaptopKey
) -> None:
    """A stranger's token, bound to the stranger's own key, is refused: that key is unknown."""
    stranger = LaptopKey.generate()
    token = token_for(signer, stranger)
    proof = kp.proof(stranger, token.raw, URL)
    assert refused(checker(), (proof,), token, key_a.thumbprint) is ErrorCode.KEY_NOT_ENROLLED


def test_a_token_read_from_a_laptop_is_useless_without_its_key(
    signer: EndorseSigner, key_a: LaptopKey
) -> None:
    """A stranger who reads laptop A's bound token and signs with an enrolled-elsewhere key B
    is refused; signing with no key at all needs a proof."""
    token = token_for(signer, key_a)
    assert refused(checker(), (), token, key_a.thumbprint) is ErrorCode.KEY_BINDING_REQUIRED
    other = LaptopKey.generate()
    proof = kp.proof(other, token.raw, URL)
    assert refused(checker(), (proof,), token, key_a.thumbprint) is ErrorCode.KEY_NOT_ENROLLED


def test_an_unbound_token_is_a_mismatch(signer: EndorseSigner, key_a: LaptopKey) -> None:
    """A token whose nonce was random (or absent) never passes, whatever the proof."""
    for params in ({"nonce": "random-nonce-1234"}, None):
        token = parse_token(signer.mint(SimIdentity(), request_parameters=params))
        proof = kp.proof(key_a, token.raw, URL)
        assert refused(checker(), (proof,), token, key_a.thumbprint) is ErrorCode.KEY_MISMATCH


def test_a_replayed_proof_is_refused(signer: EndorseSigner, key_a: LaptopKey) -> None:
    """The second use of a proof is PROOF_REPLAYED, kept under its own replay-store prefix."""
    replay = MemoryReplayGuard(1000)
    check = KeyBindingChecker(replay, LEEWAY)
    token = token_for(signer, key_a)
    proof = kp.proof(key_a, token.raw, URL)
    check.check((proof,), method="POST", url=URL, token=token, enrolled=[key_a.thumbprint])
    assert refused(check, (proof,), token, key_a.thumbprint) is ErrorCode.PROOF_REPLAYED
    assert len(replay) == 1
    # A token id equal to the proof's jti is a different entry of the same store.
    replay.claim(jwt.decode(proof, options={"verify_signature": False})["jti"], time.time() + 60)


def test_the_proof_is_remembered_while_its_iat_is_acceptable(
    signer: EndorseSigner, key_a: LaptopKey
) -> None:
    """At the last second the proof's iat is accepted, its jti is still remembered."""
    now = [time.time()]
    replay = MemoryReplayGuard(1000, clock=lambda: now[0])
    check = KeyBindingChecker(replay, LEEWAY, clock=lambda: now[0])
    token = token_for(signer, key_a)
    iat = int(now[0])
    proof = kp.proof(key_a, token.raw, URL, iat=iat)
    check.check((proof,), method="POST", url=URL, token=token, enrolled=[key_a.thumbprint])
    now[0] = iat + LEEWAY
    assert refused(check, (proof,), token, key_a.thumbprint) is ErrorCode.PROOF_REPLAYED


def test_public_url_wins_over_the_arrival_url(signer: EndorseSigner, key_a: LaptopKey) -> None:
    """Behind a proxy the configured public URL is what proofs must name."""
    public, arrival = "https://api.example.com/exchange", "http://10.0.0.5:8080/"
    check = checker(public_url=public)
    token = token_for(signer, key_a)
    honest = kp.proof(key_a, token.raw, public)
    enrolled = [key_a.thumbprint]
    assert check.check((honest,), method="POST", url=arrival, token=token, enrolled=enrolled)
    named_arrival = kp.proof(key_a, token.raw, arrival)
    with pytest.raises(ExchangeError) as info:
        check.check((named_arrival,), method="POST", url=arrival, token=token, enrolled=enrolled)
    assert info.value.code is ErrorCode.BAD_PROOF


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("HTTPS://Exchange.Example:443/x?q=1#f", "https://exchange.example/x"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
        ("http://[::1]:80/a", "http://[::1]/a"),
        ("https://h:99999/", ""),
    ],
)
def test_urls_compare_in_normal_form(given: str, expected: str) -> None:
    """htu comparison ignores case of scheme and host, default ports, query and fragment."""
    assert normalize_url(given) == expected


def test_the_rfc_9449_example_verifies_and_names_its_key() -> None:
    """The RFC's example proof passes the signature check; only its missing ath fails it."""
    check = checker(now=lambda: 1562262616)
    thumbprint, claims = check._verified(RFC_PROOF)
    assert thumbprint == RFC_JKT
    assert claims["htu"] == "https://server.example.com/token"
