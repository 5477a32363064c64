"""How secrets appear in logs: never in full, only as a length and a hash prefix."""

from __future__ import annotations

import hashlib


def fingerprint(secret: str | bytes, length: int = 12) -> str:
    """Return the first ``length`` hex digits of the SHA-256 of ``secret``.

    A short prefix lets two log lines be matched to the same token without the log
    revealing anything an attacker could replay.
    """
    data = secret.encode() if isinstance(secret, str) else secret
    return hashlib.sha256(data).hexdigest()[:length]


def describe_secret(secret: str | bytes) -> str:
    """A log-safe description of a secret: ``len=812 sha256=1a2b3c4d5e6f``."""
    return f"len={len(secret)} sha256={fingerprint(secret)}"
