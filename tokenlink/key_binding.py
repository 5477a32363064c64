"""Laptop key binding, the rules both ends share: key thumbprints and the proof's shape.

A laptop enrolled with a P-256 key names that key in the challenge nonce (its RFC 7638
thumbprint followed by fresh random characters; the rule is in tokenlink.nonce), so the
token Endorse signs names the key; each exchange request then carries a DPoP-style proof
(RFC 9449) signed by the same key. Pure: standard library only, no cryptography (the
laptop signs, the exchange verifies).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
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
_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{43}")


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


def token_hash(token: str) -> str:
    """``ath``: base64url SHA-256 of the token's ASCII form (RFC 9449 section 4.2)."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())
