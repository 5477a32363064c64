"""The challenge nonce rule: 8..64 characters of the base64url alphabet, nothing else.

A nonce is written by a central over the air, sent by the gateway to Endorse in a query
string, signed into the token's requestParameters, and named again in the exchange
request (docs/protocol.md, "Challenge"; docs/exchange-api.md). Every hop checks this one
rule, so a nonce one part would refuse can never be accepted by another. base64url is safe
in a URL query, in JSON and in logs; 8 characters leave a guess no chance, 64 bound it.
"""

from __future__ import annotations

import enum
import re

from endorse_ble.tokenlink.errors import EndorseBleError

NONCE_MIN_LENGTH = 8
NONCE_MAX_LENGTH = 64
NONCE_RULE = f"{NONCE_MIN_LENGTH}..{NONCE_MAX_LENGTH} base64url characters (A-Z a-z 0-9 - _)"

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


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
