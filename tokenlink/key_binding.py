"""Laptop key binding, the rules both ends share: key thumbprints, bound nonces, proof shape.

A laptop enrolled with a P-256 key names that key in the challenge nonce (its RFC 7638
thumbprint followed by fresh random characters), so the token Endorse signs names the key;
each exchange request then carries a DPoP-style proof (RFC 9449) signed by the same key.
Pure: standard library only, no cryptography (the laptop signs, the exchange verifies).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping

#: The header that carries the proof (RFC 9449 section 4.1).
PROOF_HEADER = "DPoP"
#: ``typ`` of a proof's JOSE header (RFC 9449 section 4.2).
PROOF_TYPE = "dpop+jwt"
#: The one signature algorithm of proofs: ECDSA P-256 with SHA-256 (RFC 7518 section 3.4).
PROOF_ALGORITHM = "ES256"
PROOF_CURVE = "P-256"

#: A SHA-256 thumbprint in base64url without padding: 32 bytes -> 43 characters.
THUMBPRINT_CHARS = 43
#: Fresh random characters after the thumbprint: 12 random bytes -> 16 base64url characters.
BOUND_NONCE_RANDOM_CHARS = 16
BOUND_NONCE_CHARS = THUMBPRINT_CHARS + BOUND_NONCE_RANDOM_CHARS
_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{43}")
_NONCE = re.compile(r"[A-Za-z0-9_-]+")


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def is_thumbprint(text: object) -> bool:
    """True for 43 base64url characters: the shape of a SHA-256 JWK thumbprint."""
    return isinstance(text, str) and _THUMBPRINT.fullmatch(text) is not None


def ec_thumbprint(jwk: Mapping[str, object]) -> str:
    """The RFC 7638 SHA-256 thumbprint of an EC public JWK.

    Only the required members (``crv``, ``kty``, ``x``, ``y``) count, in lexicographic order
    and without whitespace (RFC 7638 section 3.2), so extra members never change it.
    """
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    if not all(isinstance(value, str) for value in members.values()):
        raise ValueError("an EC JWK's crv, kty, x and y must be strings")
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True, ensure_ascii=True)
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def bound_nonce(thumbprint: str) -> str:
    """A challenge nonce naming the key: its thumbprint, then 16 fresh random characters."""
    if not is_thumbprint(thumbprint):
        raise ValueError("not a JWK thumbprint (43 base64url characters)")
    return thumbprint + secrets.token_urlsafe(BOUND_NONCE_RANDOM_CHARS * 3 // 4)


def challenge_nonce(thumbprint: str | None) -> str:
    """The nonce for a fresh token: bound to the key when there is one, else just random."""
    return bound_nonce(thumbprint) if thumbprint is not None else secrets.token_urlsafe(16)


def nonce_names_key(nonce: str | None, thumbprint: str) -> bool:
    """Whether a token's signed nonce was made for the key ``thumbprint``."""
    if nonce is None or len(nonce) < THUMBPRINT_CHARS:
        return False
    return hmac.compare_digest(nonce[:THUMBPRINT_CHARS].encode(), thumbprint.encode())


def bound_thumbprint(nonce: str | None) -> str | None:
    """The key thumbprint a bound nonce names, or None when the nonce does not look bound.

    Only a hint for people (``inspect``): a random 59-character nonce looks the same. The
    exchange never guesses; it checks the nonce against the proof's key.
    """
    if nonce is None or len(nonce) != BOUND_NONCE_CHARS or not _NONCE.fullmatch(nonce):
        return None
    return nonce[:THUMBPRINT_CHARS]


def token_hash(token: str) -> str:
    """``ath``: base64url SHA-256 of the token's ASCII form (RFC 9449 section 4.2)."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())
