"""Signing keys and token minting shaped like SORACOM Endorse, for the testbed only.

The Endorse simulator, the exchange tests and the benchmarks all need RS256 tokens that
look like real ones (kid ``v1-<32 hex>-x509.pem``, iss/aud/sub, 22-char jti,
nbf = iat - 60); this module is the single place that makes them.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from endorse_ble.tokenlink.endorse import ENDORSE_AUDIENCE as AUDIENCE
from endorse_ble.tokenlink.endorse import ENDORSE_ISSUER as ISSUER
from endorse_ble.tokenlink.endorse import ENDORSE_SUBJECT as SUBJECT


def new_kid() -> str:
    """A key id in Endorse's published form."""
    return f"v1-{secrets.token_hex(16)}-x509.pem"


def new_jti() -> str:
    """A 22-character base64url id (16 random bytes), as Endorse issues."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()


@dataclass(frozen=True)
class SimIdentity:
    """What Endorse would name in the claim for one SIM in one device."""

    imsi: str = "440103123456789"
    imei: str = "356938035643809"
    msisdn: str | None = "812012345678"
    sim_id: str | None = "8981100000123456789"


def endorse_payload(
    sim: SimIdentity,
    now: float,
    lifetime: int = 600,
    request_parameters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The claims Endorse signs for ``sim``, issued at ``now``."""
    iat = int(now)
    claim: dict[str, Any] = {"imsi": sim.imsi, "imei": sim.imei}
    if sim.msisdn is not None:
        claim["msisdn"] = sim.msisdn
    if sim.sim_id is not None:
        claim["simId"] = sim.sim_id
    if request_parameters:
        claim["requestParameters"] = dict(request_parameters)
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": SUBJECT,
        "jti": new_jti(),
        "iat": iat,
        "nbf": iat - 60,
        "exp": iat + lifetime,
        "soracom-endorse-claim": claim,
    }


@dataclass
class EndorseSigner:
    """An RSA key pair with an Endorse-style kid that mints RS256 tokens."""

    key_bits: int = 2048
    kid: str = field(default_factory=new_kid)
    _key: rsa.RSAPrivateKey | None = field(default=None, repr=False)

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        if self._key is None:
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=self.key_bits)
        return self._key

    def public_pem(self) -> bytes:
        """The public key as PEM SubjectPublicKeyInfo, as the keystore serves it."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def mint(
        self,
        sim: SimIdentity,
        *,
        lifetime: int = 600,
        now: float | None = None,
        request_parameters: Mapping[str, Any] | None = None,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> str:
        """Sign a token for ``sim`` valid for ``lifetime`` seconds from ``now``."""
        payload = endorse_payload(
            sim, time.time() if now is None else now, lifetime, request_parameters
        )
        if extra_claims:
            payload.update(extra_claims)
        # Endorse headers carry only kid and alg; typ=None keeps PyJWT from adding "JWT".
        return jwt.encode(
            payload, self.private_key, algorithm="RS256", headers={"kid": self.kid, "typ": None}
        )
