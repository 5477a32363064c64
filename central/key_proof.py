"""Sign a DPoP-style proof (RFC 9449) for one exchange request with the laptop key.

The proof shows the exchange that whoever sends this token holds the key the token's
nonce names; docs/exchange-api.md ("Key binding") lists what the exchange checks.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit, urlunsplit

import jwt

from endorse_ble.central.laptop_key import LaptopKey
from endorse_ble.tokenlink.key_binding import PROOF_ALGORITHM, PROOF_TYPE, token_hash


def target_uri(url: str) -> str:
    """``htu``: the request URL without query and fragment (RFC 9449 section 4.2)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))


def make_proof(key: LaptopKey, method: str, url: str, token: str, now: float | None = None) -> str:
    """A compact JWS proving ``key`` sends ``token`` with ``method`` to ``url``."""
    claims = {
        "htm": method.upper(),
        "htu": target_uri(url),
        "iat": int(time.time() if now is None else now),
        "jti": secrets.token_urlsafe(16),
        "ath": token_hash(token),
    }
    headers = {"typ": PROOF_TYPE, "jwk": key.public_jwk()}
    return jwt.encode(claims, key.private_key, algorithm=PROOF_ALGORITHM, headers=headers)
