"""The root of every error endorse-ble raises on purpose.

Each part (gateway, laptop, exchange) derives its own errors from :class:`EndorseBleError`
so that entry points can map any of them to a one-line user message in one place.
"""

from __future__ import annotations

import enum


class EndorseBleError(Exception):
    """Base class of all errors raised deliberately by endorse-ble."""


class TokenFormatReason(enum.Enum):
    """Why a string could not be read as an Endorse JWT."""

    OVERSIZED = "oversized"
    EMPTY = "empty"
    NOT_ASCII = "not_ascii"
    SEGMENT_COUNT = "segment_count"
    BAD_BASE64 = "bad_base64"
    BAD_JSON = "bad_json"
    NOT_OBJECT = "not_object"
    MISSING_CLAIM = "missing_claim"
    BAD_CLAIM = "bad_claim"


class TokenFormatError(EndorseBleError):
    """A token is malformed; ``reason`` says how and ``field`` names the part at fault."""

    def __init__(self, reason: TokenFormatReason, field: str, detail: str) -> None:
        self.reason = reason
        self.field = field
        self.detail = detail
        super().__init__(f"malformed token ({reason.value}) at {field}: {detail}")
