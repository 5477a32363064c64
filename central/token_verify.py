"""Check an Endorse token's RS256 signature against the keystore (``inspect --verify``).

The 2016 reference verifier built the key URL from the header's kid unchecked and let the
token choose its algorithm (endorse-facts.md). Here the kid must match the Endorse pattern
before it names a URL, and PyJWT accepts RS256 only. Expiry is reported by ``inspect``
itself, so a valid signature on an expired token still verifies as a signature.
"""

from __future__ import annotations

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from endorse_ble.central.errors import ExchangeClientError, InputFailure, TokenInputError
from endorse_ble.central.exchange_client import fetch_keystore_pem
from endorse_ble.central.user_config import validate_exchange_url
from endorse_ble.tokenlink.endorse import (
    ENDORSE_AUDIENCE,
    ENDORSE_ISSUER,
    KEYSTORE_URL,
    is_safe_kid,
)
from endorse_ble.tokenlink.rsa_key import KeyLoadError, load_rsa_public_key
from endorse_ble.tokenlink.token import Token


def key_url(keystore: str, kid: str | None) -> str:
    """The URL of ``kid``'s PEM under ``keystore``; TokenInputError for a hostile kid."""
    if kid is None or not is_safe_kid(kid):
        raise TokenInputError(
            InputFailure.BAD_SIGNATURE, "the token's kid is not an Endorse key id; not fetched"
        )
    try:
        validate_exchange_url(keystore)
    except ValueError as exc:
        raise TokenInputError(InputFailure.KEYSTORE, f"--keystore: {exc}") from exc
    return keystore.rstrip("/") + "/" + kid


def _public_key(pem: bytes) -> rsa.RSAPublicKey:
    try:
        return load_rsa_public_key(pem)
    except KeyLoadError as exc:
        raise TokenInputError(InputFailure.KEYSTORE, f"the keystore's answer: {exc}") from None


def verify_signature(token: Token, keystore: str = KEYSTORE_URL, timeout: float = 10.0) -> str:
    """Verify ``token``'s RS256 signature, issuer and audience; return the key URL used."""
    url = key_url(keystore, token.header.kid)
    try:
        pem = fetch_keystore_pem(url, timeout)
    except ExchangeClientError as exc:
        # The HTTP adapter speaks of the exchange; here the failing service is the keystore.
        raise TokenInputError(
            InputFailure.KEYSTORE,
            f"the keystore did not give the key ({exc.reason.value}: {exc.detail}); "
            "check --keystore and the network, or inspect without --verify",
        ) from exc
    key = _public_key(pem)
    try:
        jwt.decode(
            token.raw,
            key,
            algorithms=["RS256"],
            audience=ENDORSE_AUDIENCE,
            issuer=ENDORSE_ISSUER,
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.InvalidTokenError as exc:
        raise TokenInputError(
            InputFailure.BAD_SIGNATURE, f"the token does not verify: {exc}"
        ) from exc
    return url
