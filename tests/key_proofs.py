"""Laptop keys, bound tokens and honest or hostile DPoP proofs for the key-binding tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from endorse_ble.central.key_proof import make_proof
from endorse_ble.central.laptop_key import LaptopKey
from endorse_ble.testbed.endorse_keys import EndorseSigner, SimIdentity
from endorse_ble.tokenlink.key_binding import b64url, token_hash
from endorse_ble.tokenlink.nonce import bound_nonce


def bound_token(
    signer: EndorseSigner, key: LaptopKey, sim: SimIdentity | None = None, **mint: Any
) -> tuple[str, str]:
    """(token, nonce): a token Endorse signed for a nonce naming ``key``."""
    nonce = bound_nonce(key.thumbprint)
    return signer.mint(sim or SimIdentity(), request_parameters={"nonce": nonce}, **mint), nonce


def claims_for(token: str, url: str, **changes: Any) -> dict[str, Any]:
    """The claims an honest proof carries, with ``changes`` applied (None deletes)."""
    claims: dict[str, Any] = {
        "htm": "POST",
        "htu": url,
        "iat": int(time.time()),
        "jti": secrets.token_urlsafe(16),
        "ath": token_hash(token),
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def proof(key: LaptopKey, token: str, url: str, **changes: Any) -> str:
    """A proof signed by ``key`` (the real laptop code when nothing is changed)."""
    if not changes:
        return make_proof(key, "POST", url, token)
    headers = {"typ": "dpop+jwt", "jwk": key.public_jwk()}
    return jwt.encode(claims_for(token, url, **changes), key.private_key, "ES256", headers)


def proof_with_header(key: LaptopKey, token: str, url: str, **header: Any) -> str:
    """An ES256 proof by ``key`` whose JOSE header is changed (None deletes a member)."""
    headers: dict[str, Any] = {"typ": "dpop+jwt", "jwk": key.public_jwk()}
    headers.update(header)
    headers = {k: v for k, v in headers.items() if v is not None}
    typ_missing = "typ" not in headers
    encoded = jwt.encode(claims_for(token, url), key.private_key, "ES256", headers)
    if typ_missing:  # PyJWT adds typ JWT when none is given; rebuild the header by hand
        head = b64url(json.dumps({"alg": "ES256", **headers}).encode())
        return head + encoded[encoded.index(".") :]
    return encoded


def signed_by_other(key: LaptopKey, signer: LaptopKey, token: str, url: str) -> str:
    """A proof naming ``key`` in its jwk but signed by ``signer``."""
    headers = {"typ": "dpop+jwt", "jwk": key.public_jwk()}
    return jwt.encode(claims_for(token, url), signer.private_key, "ES256", headers)


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}"


def alg_none(key: LaptopKey, token: str, url: str) -> str:
    """An unsigned proof (``alg: none``) naming ``key``."""
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": key.public_jwk()}
    return _unsigned(header, claims_for(token, url)) + "."


def hs256(key: LaptopKey, token: str, url: str) -> str:
    """A proof MACed with HS256, keyed with the public key's own JWK text."""
    jwk = key.public_jwk()
    signing_input = _unsigned(
        {"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk}, claims_for(token, url)
    )
    mac = hmac.new(json.dumps(jwk).encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def rsa_proof(token: str, url: str) -> str:
    """A proof signed RS256 by an RSA key carried in its jwk."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    return jwt.encode(claims_for(token, url), private, "RS256", {"typ": "dpop+jwt", "jwk": jwk})


def rsa_key_claiming_es256(key: LaptopKey, token: str, url: str) -> str:
    """``alg: ES256`` but an RSA jwk: the key type is refused before any signature check."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    return proof_with_header(key, token, url, jwk=jwk)
