"""Check that the laptop presenting a token holds a key enrolled for the token's SIM.

The request carries a DPoP-style proof (RFC 9449) in its ``DPoP`` header: a compact JWS
with header ``{"typ": "dpop+jwt", "alg": "ES256", "jwk": <P-256 public key>}`` and claims
``htm``, ``htu``, ``iat``, ``jti`` and ``ath`` (base64url SHA-256 of the Endorse token).
The laptop chose the token's nonce as its key's thumbprint plus random characters, so the
token Endorse signed names the key, and the proof shows the caller holds it.

Runs after the token's own checks and before STS. Pure apart from the replay store seam;
the clock is injected.
"""

from __future__ import annotations

import hmac
import json
import math
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.exchange.replay import ReplayGuard
from endorse_ble.tokenlink.errors import TokenFormatError
from endorse_ble.tokenlink.key_binding import (
    PROOF_ALGORITHM,
    PROOF_CURVE,
    PROOF_TYPE,
    ec_thumbprint,
    token_hash,
)
from endorse_ble.tokenlink.nonce import nonce_names_key
from endorse_ble.tokenlink.token import Token, b64url_decode

#: A proof is a few hundred characters; anything this long is not one.
MAX_PROOF_CHARS = 4096
#: Proof ids share the token replay store under their own prefix, so the two never collide.
PROOF_REPLAY_PREFIX = "dpop:"
# A P-256 coordinate is 32 bytes: 43 base64url characters.
_COORDINATE = re.compile(r"[A-Za-z0-9_-]{43}")
_JTI = re.compile(r"[\x21-\x7e]{1,128}")
_DEFAULT_PORTS = {"https": 443, "http": 80}


def _bad(message: str) -> ExchangeError:
    return ExchangeError(ErrorCode.BAD_PROOF, message)


def normalize_url(url: str) -> str:
    """``url`` as a proof's ``htu`` is compared (RFC 9449 section 4.3, RFC 3986 6.2.2-6.2.3):
    scheme and host lower case, default port dropped, empty path as ``/``, no query or
    fragment."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    scheme = parts.scheme.lower()
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", "", ""))


def _segment_json(segment: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(segment, where))
    except (TokenFormatError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise _bad(f"the proof's {where} is not base64url JSON") from None
    if not isinstance(value, dict):
        raise _bad(f"the proof's {where} is not a JSON object")
    return value


def _public_jwk(header: Mapping[str, Any]) -> dict[str, str]:
    # Only an EC P-256 public key: an RSA or symmetric key, or one with a private part, is
    # refused before any signature check (RFC 9449 section 4.3, steps 5-7).
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != PROOF_CURVE:
        raise _bad("the proof's jwk must be an EC P-256 public key")
    if "d" in jwk:
        raise _bad("the proof's jwk holds a private key")
    x, y = jwk.get("x"), jwk.get("y")
    if not isinstance(x, str) or not isinstance(y, str):
        raise _bad("the proof's jwk lacks its coordinates")
    if not _COORDINATE.fullmatch(x) or not _COORDINATE.fullmatch(y):
        raise _bad("the proof's jwk coordinates are not P-256 sized")
    return {"kty": "EC", "crv": PROOF_CURVE, "x": x, "y": y}


class _ProofKeys:
    """The checked key of each proof header seen, keyed by the encoded header (bounded).

    A laptop's proofs all carry the same header (typ, alg, its jwk), so the header is
    parsed, its key checked and its thumbprint computed once. Only that is kept, never a
    verdict: every proof's signature and claims are checked.
    """

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._keys: dict[str, tuple[str, ec.EllipticCurvePublicKey]] = {}

    def get(self, segment: str) -> tuple[str, ec.EllipticCurvePublicKey]:
        """(thumbprint, public key) named by the header ``segment``, or BAD_PROOF."""
        known = self._keys.get(segment)
        if known is None:
            known = _header_key(_segment_json(segment, "header"))
            if len(self._keys) >= self._size:
                self._keys.clear()
            self._keys[segment] = known
        return known


def _header_key(header: Mapping[str, Any]) -> tuple[str, ec.EllipticCurvePublicKey]:
    if header.get("typ") != PROOF_TYPE:
        raise _bad(f"the proof's typ must be {PROOF_TYPE}")
    # ES256 only: none, HS256 (keyed with whatever the caller likes) and RSA are refused.
    if header.get("alg") != PROOF_ALGORITHM:
        raise _bad(f"the proof's alg must be {PROOF_ALGORITHM}")
    jwk = _public_jwk(header)
    try:
        # from_jwk checks the point is on the curve (an invalid-curve attack fails).
        key = jwt.algorithms.ECAlgorithm.from_jwk(jwk)
    except (jwt.InvalidKeyError, ValueError):
        raise _bad("the proof's jwk is not a valid P-256 key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise _bad("the proof's jwk is not a public key")
    return ec_thumbprint(jwk), key


def _verify_es256(key: ec.EllipticCurvePublicKey, signing_input: str, signature: str) -> None:
    # RFC 7518 section 3.4: the JWS signature is R || S, 32 bytes each for P-256.
    try:
        raw = b64url_decode(signature, "signature")
    except TokenFormatError:
        raise _bad("the proof's signature is not base64url") from None
    if len(raw) != 64:
        raise _bad("the proof's signature is not an ES256 signature")
    der = utils.encode_dss_signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    )
    try:
        key.verify(der, signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise _bad("the proof's signature does not verify") from None


class KeyBindingChecker:
    """Verify a request's proof against its token and the keys enrolled for the SIM."""

    def __init__(
        self,
        replay: ReplayGuard,
        leeway_seconds: float,
        public_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._replay = replay
        self._leeway = leeway_seconds
        self._public_url = normalize_url(public_url) if public_url else None
        self._clock = clock
        self._keys = _ProofKeys()

    def check(
        self,
        proofs: Sequence[str],
        *,
        method: str,
        url: str,
        token: Token,
        enrolled: Collection[str],
    ) -> str:
        """Return the thumbprint of the key that proved, or raise ExchangeError saying why.

        ``proofs`` are the request's ``DPoP`` header values; ``url`` is where the request
        arrived (``public_url`` from the configuration wins when set).
        """
        if not proofs:
            raise ExchangeError(
                ErrorCode.KEY_BINDING_REQUIRED, "this exchange requires a DPoP proof"
            )
        if len(proofs) > 1:
            raise _bad("send exactly one DPoP header")
        thumbprint, claims = self._verified(proofs[0])
        if claims.get("htm") != method.upper():
            raise _bad("the proof is for another HTTP method")
        htu = claims.get("htu")
        if not isinstance(htu, str) or normalize_url(htu) != (
            self._public_url or normalize_url(url)
        ):
            raise _bad("the proof is for another URL")
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(
            ath.encode("ascii", "replace"), token_hash(token.raw).encode()
        ):
            raise _bad("the proof is for another token")
        issued_at = self._issued_at(claims)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not _JTI.fullmatch(jti):
            raise _bad("the proof's jti is malformed")
        if thumbprint not in enrolled:
            # The thumbprint is public; naming it lets the admin match the laptop's enroll line.
            raise ExchangeError(
                ErrorCode.KEY_NOT_ENROLLED,
                f"this laptop key (jkt={thumbprint}) is not enrolled for this SIM",
            )
        if not nonce_names_key(token.nonce, thumbprint):
            raise ExchangeError(
                ErrorCode.KEY_MISMATCH,
                f"the token was not fetched for this laptop key (jkt={thumbprint})",
            )
        # Kept one second past the last moment the proof's iat is still accepted.
        self._claim(jti, issued_at + self._leeway + 1)
        return thumbprint

    def _verified(self, proof: str) -> tuple[str, dict[str, Any]]:
        if len(proof) > MAX_PROOF_CHARS or not proof.isascii() or proof.count(".") != 2:
            raise _bad("the proof is not a compact JWS")
        signing_input, _, signature = proof.rpartition(".")
        head, _, body = signing_input.partition(".")
        thumbprint, key = self._keys.get(head)
        _verify_es256(key, signing_input, signature)
        return thumbprint, _segment_json(body, "claims")

    def _issued_at(self, claims: Mapping[str, Any]) -> float:
        iat = claims.get("iat")
        # NaN (which Python's JSON parser accepts) would pass every comparison below.
        if isinstance(iat, bool) or not isinstance(iat, int | float) or not math.isfinite(iat):
            raise _bad("the proof's iat is not a NumericDate")
        if abs(self._clock() - iat) > self._leeway:
            raise _bad("the proof's iat is outside the allowed clock skew")
        return float(iat)

    def _claim(self, jti: str, expires_at: float) -> None:
        try:
            self._replay.claim(PROOF_REPLAY_PREFIX + jti, expires_at)
        except ExchangeError as exc:
            if exc.code is ErrorCode.TOKEN_REPLAYED:
                raise ExchangeError(
                    ErrorCode.PROOF_REPLAYED, "this proof has already been used"
                ) from None
            raise
