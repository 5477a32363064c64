"""Read a signer's public key (PEM SPKI or X.509 certificate) as RSA of at least 2048 bits.

Used by the laptop's ``inspect --verify`` and by the exchange, the two parts that verify
Endorse signatures and so already depend on ``cryptography`` (through PyJWT[crypto]).
The import is deferred to the call so that the gateway, which imports tokenlink but not
this function, never needs that library.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from endorse_ble.tokenlink.errors import EndorseBleError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

#: Weaker RSA keys are refused whatever a caller asks (NIST SP 800-57 Part 1, table 2).
MIN_RSA_BITS = 2048

_CERTIFICATE_MARK = b"-----BEGIN CERTIFICATE-----"


class KeyRefusal(enum.Enum):
    """Why a key was refused."""

    NOT_PEM = "not_pem"
    NOT_RSA = "not_rsa"
    TOO_SMALL = "too_small"


class KeyLoadError(EndorseBleError):
    """The bytes are not an acceptable RSA public key; ``reason`` says why."""

    def __init__(self, reason: KeyRefusal, detail: str) -> None:
        self.reason = reason
        super().__init__(detail)


def load_rsa_public_key(pem: bytes, min_bits: int = MIN_RSA_BITS) -> RSAPublicKey:
    """The RSA key in ``pem`` (a public key or a certificate), of at least ``min_bits``.

    ``min_bits`` can raise the floor of :data:`MIN_RSA_BITS`, never lower it.
    """
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    floor = max(min_bits, MIN_RSA_BITS)
    try:
        key: object = (
            x509.load_pem_x509_certificate(pem).public_key()
            if _CERTIFICATE_MARK in pem
            else load_pem_public_key(pem)
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyLoadError(KeyRefusal.NOT_PEM, "the key is not a PEM public key") from None
    if not isinstance(key, RSAPublicKey):
        raise KeyLoadError(KeyRefusal.NOT_RSA, "the key is not RSA")
    if key.key_size < floor:
        raise KeyLoadError(
            KeyRefusal.TOO_SMALL, f"the RSA key has {key.key_size} bits, fewer than {floor}"
        )
    return key
