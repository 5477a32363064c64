"""How secrets appear in logs: never in full, only as a length and a hash prefix."""

from __future__ import annotations

import hashlib
import re


def fingerprint(secret: str | bytes, length: int = 12) -> str:
    """Return the first ``length`` hex digits of the SHA-256 of ``secret``.

    A short prefix lets two log lines be matched to the same token without the log
    revealing anything an attacker could replay.
    """
    # surrogatepass: a hostile "token" may hold lone surrogates, which strict UTF-8 refuses.
    data = secret.encode("utf-8", "surrogatepass") if isinstance(secret, str) else secret
    return hashlib.sha256(data).hexdigest()[:length]


def describe_secret(secret: str | bytes) -> str:
    """A log-safe description of a secret: ``len=812 sha256=1a2b3c4d5e6f``."""
    return f"len={len(secret)} sha256={fingerprint(secret)}"


# What a token looks like inside other text: a compact JWS (RFC 7515 section 7.1), three
# base64url runs joined by dots; or any run starting "eyJ" (base64url of '{"', how every
# JWS header starts), which also catches a token cut short by an excerpt.
_TOKEN_LIKE = re.compile(r"eyJ[A-Za-z0-9_.-]*|[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")


def redact_tokens(text: str) -> str:
    """``text`` with everything token-shaped replaced by ``<token-like len=.. sha256=..>``.

    For any text that may quote a server's answer or an exception before it reaches a log,
    a status line or a user.
    """
    return _TOKEN_LIKE.sub(lambda m: f"<token-like {describe_secret(m.group())}>", text)
