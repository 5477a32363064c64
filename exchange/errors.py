"""The exchange's error root and its wire codes, each mapped to an HTTP status in one place.

Every refusal the exchange makes is an :class:`ExchangeError` carrying an
:class:`ErrorCode`; the transports (Lambda, local server) never decide a status themselves,
they read :attr:`ErrorCode.status`. Messages are written for the caller and never contain
the token or any secret.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from http import HTTPStatus
from types import MappingProxyType

from endorse_ble.tokenlink.errors import EndorseBleError


class ErrorCode(enum.Enum):
    """Machine-readable reasons for a refusal, as sent in the ``error`` field."""

    # The request itself
    MALFORMED_REQUEST = "malformed_request"
    REQUEST_TOO_LARGE = "request_too_large"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_FOUND = "not_found"
    # The token's shape and signature
    MALFORMED_TOKEN = "malformed_token"
    TOKEN_TOO_LARGE = "token_too_large"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    INVALID_KID = "invalid_kid"
    UNKNOWN_KID = "unknown_kid"
    BAD_SIGNATURE = "bad_signature"
    # The token's claims
    INVALID_CLAIMS = "invalid_claims"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_NOT_YET_VALID = "token_not_yet_valid"
    TOKEN_TOO_OLD = "token_too_old"
    # Policy
    IMSI_NOT_ALLOWED = "imsi_not_allowed"
    IMEI_MISMATCH = "imei_mismatch"
    NONCE_REQUIRED = "nonce_required"
    NONCE_MISMATCH = "nonce_mismatch"
    TOKEN_REPLAYED = "token_replayed"
    # Laptop key binding (a DPoP-style proof with the request)
    KEY_BINDING_REQUIRED = "key_binding_required"
    BAD_PROOF = "bad_proof"
    KEY_NOT_ENROLLED = "key_not_enrolled"
    KEY_MISMATCH = "key_mismatch"
    PROOF_REPLAYED = "proof_replayed"
    # The exchange's own dependencies
    KEYSTORE_RATE_LIMITED = "keystore_rate_limited"
    KEYSTORE_UNAVAILABLE = "keystore_unavailable"
    KEYSTORE_BAD_KEY = "keystore_bad_key"
    REPLAY_STORE_UNAVAILABLE = "replay_store_unavailable"
    ALLOWLIST_UNAVAILABLE = "allowlist_unavailable"
    REPLAY_STORE_FULL = "replay_store_full"
    ISSUER_FAILED = "issuer_failed"
    MISCONFIGURED = "misconfigured"
    INTERNAL_ERROR = "internal_error"

    @property
    def status(self) -> HTTPStatus:
        """The HTTP status this code is answered with."""
        return HTTP_STATUS[self]


_S = HTTPStatus
#: The single table from error code to HTTP status (documented in docs/exchange-api.md).
HTTP_STATUS: Mapping[ErrorCode, HTTPStatus] = MappingProxyType(
    {
        ErrorCode.MALFORMED_REQUEST: _S.BAD_REQUEST,
        ErrorCode.REQUEST_TOO_LARGE: _S.REQUEST_ENTITY_TOO_LARGE,
        ErrorCode.METHOD_NOT_ALLOWED: _S.METHOD_NOT_ALLOWED,
        ErrorCode.NOT_FOUND: _S.NOT_FOUND,
        ErrorCode.MALFORMED_TOKEN: _S.BAD_REQUEST,
        ErrorCode.TOKEN_TOO_LARGE: _S.REQUEST_ENTITY_TOO_LARGE,
        ErrorCode.UNSUPPORTED_ALGORITHM: _S.UNAUTHORIZED,
        ErrorCode.INVALID_KID: _S.UNAUTHORIZED,
        ErrorCode.UNKNOWN_KID: _S.UNAUTHORIZED,
        ErrorCode.BAD_SIGNATURE: _S.UNAUTHORIZED,
        ErrorCode.INVALID_CLAIMS: _S.UNAUTHORIZED,
        ErrorCode.TOKEN_EXPIRED: _S.UNAUTHORIZED,
        ErrorCode.TOKEN_NOT_YET_VALID: _S.UNAUTHORIZED,
        ErrorCode.TOKEN_TOO_OLD: _S.UNAUTHORIZED,
        ErrorCode.IMSI_NOT_ALLOWED: _S.FORBIDDEN,
        ErrorCode.IMEI_MISMATCH: _S.FORBIDDEN,
        ErrorCode.NONCE_REQUIRED: _S.FORBIDDEN,
        ErrorCode.NONCE_MISMATCH: _S.FORBIDDEN,
        ErrorCode.TOKEN_REPLAYED: _S.CONFLICT,
        ErrorCode.KEY_BINDING_REQUIRED: _S.UNAUTHORIZED,
        ErrorCode.BAD_PROOF: _S.UNAUTHORIZED,
        ErrorCode.KEY_NOT_ENROLLED: _S.FORBIDDEN,
        ErrorCode.KEY_MISMATCH: _S.FORBIDDEN,
        ErrorCode.PROOF_REPLAYED: _S.CONFLICT,
        ErrorCode.KEYSTORE_RATE_LIMITED: _S.TOO_MANY_REQUESTS,
        ErrorCode.KEYSTORE_UNAVAILABLE: _S.BAD_GATEWAY,
        ErrorCode.KEYSTORE_BAD_KEY: _S.BAD_GATEWAY,
        ErrorCode.REPLAY_STORE_UNAVAILABLE: _S.BAD_GATEWAY,
        ErrorCode.ALLOWLIST_UNAVAILABLE: _S.BAD_GATEWAY,
        ErrorCode.REPLAY_STORE_FULL: _S.SERVICE_UNAVAILABLE,
        ErrorCode.ISSUER_FAILED: _S.BAD_GATEWAY,
        ErrorCode.MISCONFIGURED: _S.INTERNAL_SERVER_ERROR,
        ErrorCode.INTERNAL_ERROR: _S.INTERNAL_SERVER_ERROR,
    }
)


class ExchangeError(EndorseBleError):
    """A deliberate refusal or failure of the exchange.

    ``message`` is safe to send to the caller: it never contains the token or a secret.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code.value}: {message}")

    @property
    def status(self) -> HTTPStatus:
        """The HTTP status for this error."""
        return self.code.status

    def to_body(self) -> dict[str, str]:
        """The JSON error body: ``{"error": <code>, "message": <text>}``."""
        return {"error": self.code.value, "message": self.message}


class ConfigError(ExchangeError):
    """The exchange's configuration is invalid; ``key`` names the offending setting."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(ErrorCode.MISCONFIGURED, f"{key}: {message}")
