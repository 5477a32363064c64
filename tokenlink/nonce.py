"""The challenge nonce rules: 8..64 characters of the base64url alphabet, nothing else; and
the nonce of a laptop with an enrolled key, which names that key.

A nonce is written by a central over the air, sent by the gateway to Endorse in a query
string, signed into the token's requestParameters, and named again in the exchange
request (docs/protocol.md, "Challenge"; docs/exchange-api.md). Every hop checks this one
rule, so a nonce one part would refuse can never be accepted by another. base64url is safe
in a URL query, in JSON and in logs; 8 characters leave a guess no chance, 64 bound it.
"""

from __future__ import annotations

import enum
import hmac
import re
import secrets

from endorse_ble.tokenlink.errors import EndorseBleError
from endorse_ble.tokenlink.key_binding import THUMBPRINT_CHARS, is_thumbprint

NONCE_MIN_LENGTH = 8
NONCE_MAX_LENGTH = 64
NONCE_RULE = f"{NONCE_MIN_LENGTH}..{NONCE_MAX_LENGTH} base64url characters (A-Z a-z 0-9 - _)"

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")

#: A laptop's own random nonce: 16 random bytes -> 22 base64url characters.
RANDOM_NONCE_BYTES = 16
#: A key-bound nonce is the key's thumbprint (43) then 16 fresh random base64url characters
#: (12 random bytes): 59 characters, inside the 8..64 rule.
BOUND_NONCE_RANDOM_CHARS = 16
BOUND_NONCE_CHARS = THUMBPRINT_CHARS + BOUND_NONCE_RANDOM_CHARS


class NonceProblem(enum.Enum):
    """What is wrong with a nonce."""

    NOT_TEXT = "not_text"
    LENGTH = "length"
    ALPHABET = "alphabet"


class NonceError(EndorseBleError):
    """A nonce breaks the rule. The message gives its length only, never the nonce."""

    def __init__(self, problem: NonceProblem, length: int | None) -> None:
        self.problem = problem
        got = "not text" if length is None else f"got {length}"
        super().__init__(f"a nonce must be {NONCE_RULE} ({got})")


def check_nonce(nonce: object) -> str:
    """Return ``nonce`` as text when it follows the rule; raise :class:`NonceError` if not.

    Accepts ``str`` or ``bytes`` (a GATT write); anything else is NOT_TEXT.
    """
    if not isinstance(nonce, str | bytes):
        raise NonceError(NonceProblem.NOT_TEXT, None)
    if not NONCE_MIN_LENGTH <= len(nonce) <= NONCE_MAX_LENGTH:
        raise NonceError(NonceProblem.LENGTH, len(nonce))
    text = nonce.decode("ascii", errors="replace") if isinstance(nonce, bytes) else nonce
    if not _ALPHABET.fullmatch(text):
        raise NonceError(NonceProblem.ALPHABET, len(nonce))
    return text


def bound_nonce(thumbprint: str) -> str:
    """A challenge nonce naming the key: its thumbprint, then 16 fresh random characters.

    Endorse signs the nonce into the token, so the token names the laptop key it was
    fetched for (docs/exchange-api.md, "Key binding").
    """
    if not is_thumbprint(thumbprint):
        raise ValueError("not a JWK thumbprint (43 base64url characters)")
    return thumbprint + secrets.token_urlsafe(BOUND_NONCE_RANDOM_CHARS * 3 // 4)


def challenge_nonce(thumbprint: str | None) -> str:
    """The nonce for a fresh token: bound to the key when there is one, else just random."""
    if thumbprint is not None:
        return bound_nonce(thumbprint)
    return secrets.token_urlsafe(RANDOM_NONCE_BYTES)


def nonce_names_key(nonce: str | None, thumbprint: str) -> bool:
    """Whether a token's signed nonce was made for the key ``thumbprint`` (starts with it)."""
    if nonce is None or len(nonce) < THUMBPRINT_CHARS:
        return False
    return hmac.compare_digest(nonce[:THUMBPRINT_CHARS].encode(), thumbprint.encode())


def bound_thumbprint(nonce: str | None) -> str | None:
    """The key thumbprint a bound nonce names, or None when the nonce does not look bound.

    Only a hint for people (``inspect``): a random 59-character nonce looks the same. The
    exchange never guesses; it checks the nonce against the proof's key.
    """
    if nonce is None or len(nonce) != BOUND_NONCE_CHARS or not _ALPHABET.fullmatch(nonce):
        return None
    return nonce[:THUMBPRINT_CHARS]
