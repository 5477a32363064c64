"""Hostile and well-formed tokens for the exchange tests, built from an EndorseSigner."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt

from endorse_ble.testbed.endorse_keys import EndorseSigner, SimIdentity, endorse_payload


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def payload(now: float, lifetime: int = 600, sim: SimIdentity | None = None) -> dict[str, Any]:
    """An Endorse-shaped payload issued at ``now`` (IMSI and IMEI only in the claim)."""
    sim = sim or SimIdentity(msisdn=None, sim_id=None)
    return endorse_payload(sim, now, lifetime)


def sign(signer: EndorseSigner, body: dict[str, Any], **header: Any) -> str:
    """RS256-sign ``body`` with ``signer``'s key; ``header`` overrides kid and adds fields."""
    headers: dict[str, Any] = {"kid": signer.kid, "typ": None}
    headers.update(header)
    return jwt.encode(body, signer.private_key, algorithm="RS256", headers=headers)


def hand_made(header: dict[str, Any], body: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS assembled by hand (for algorithms PyJWT refuses to produce)."""
    head = b64url(json.dumps(header).encode())
    pay = b64url(json.dumps(body).encode())
    return f"{head}.{pay}.{b64url(signature)}"


def alg_none(signer: EndorseSigner, body: dict[str, Any]) -> str:
    """An unsigned token (``alg: none``, RFC 7519 section 6)."""
    return hand_made({"alg": "none", "kid": signer.kid}, body)


def hs256_with_public_key(signer: EndorseSigner, body: dict[str, Any]) -> str:
    """The key-confusion attack: HS256 keyed with the RSA public key's PEM."""
    head = b64url(json.dumps({"alg": "HS256", "kid": signer.kid}).encode())
    pay = b64url(json.dumps(body).encode())
    mac = hmac.new(signer.public_pem(), f"{head}.{pay}".encode(), hashlib.sha256).digest()
    return f"{head}.{pay}.{b64url(mac)}"


def flip_signature_bit(token: str) -> str:
    """The same token with one bit of its signature flipped."""
    head, pay, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{pay}.{b64url(bytes(raw))}"
