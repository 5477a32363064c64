"""The Endorse token model: read a compact JWT into typed claims, without verifying it.

Verification (signature, issuer policy) is the exchange's job; the gateway and the laptop
only need to know what a token says (whose SIM, until when) to schedule refreshes, show
status and refuse obvious garbage early. Shape of a real token (SORACOM Endorse docs):

    header  {"kid": "v1-<32 hex>-x509.pem", "alg": "RS256"}
    payload {"iss": "https://soracom.io", "aud": "soracom-endorse-audience",
             "sub": "soracom-endorse", "jti": ..., "iat": ..., "nbf": ..., "exp": ...,
             "soracom-endorse-claim": {"imsi": ..., "imei": ..., "msisdn"?: ...,
                                       "simId"?: ..., "requestParameters"?: {...}}}
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from endorse_ble.tokenlink.errors import TokenFormatError, TokenFormatReason
from endorse_ble.tokenlink.redact import fingerprint

#: Largest token accepted anywhere. The GATT profile must carry at least 4 KiB
#: (RSA-4096 plus large requestParameters); twice that leaves room and still bounds memory.
MAX_TOKEN_BYTES = 8192

ENDORSE_CLAIM = "soracom-endorse-claim"

# base64url without padding, as RFC 7515 section 2 requires for JWS segments.
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True)
class TokenHeader:
    """The JOSE header: which algorithm signed the token and with which key."""

    alg: str
    kid: str | None
    typ: str | None = None


@dataclass(frozen=True)
class EndorseClaim:
    """The SIM identity Endorse vouches for."""

    imsi: str
    imei: str | None = None
    msisdn: str | None = None
    sim_id: str | None = None
    request_parameters: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, repr=False)
class Token:
    """A parsed, unverified Endorse token. ``raw`` is the compact JWT itself."""

    raw: str
    header: TokenHeader
    issuer: str | None
    audience: tuple[str, ...]
    subject: str | None
    jwt_id: str | None
    issued_at: int | None
    not_before: int | None
    expires_at: int
    claim: EndorseClaim

    @property
    def fingerprint(self) -> str:
        """A short SHA-256 prefix of the raw token, safe to log and display."""
        return fingerprint(self.raw)

    @property
    def size(self) -> int:
        """Length of the compact JWT in bytes (it is ASCII)."""
        return len(self.raw)

    def seconds_left(self, now: float) -> float:
        """Seconds until expiry at wall-clock time ``now`` (negative once expired)."""
        return self.expires_at - now

    def is_expired(self, now: float, leeway: float = 0.0) -> bool:
        """True when the token is expired, or will be within ``leeway`` seconds."""
        return self.seconds_left(now) <= leeway

    @property
    def nonce(self) -> str | None:
        """The challenge nonce carried in the signed request parameters, if any."""
        value = self.claim.request_parameters.get("nonce")
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        return value if isinstance(value, str) else None

    def __repr__(self) -> str:
        # Never let a debug print or a log line leak the bearer token itself.
        return (
            f"Token(imsi={self.claim.imsi!r}, exp={self.expires_at}, "
            f"len={self.size}, sha256={self.fingerprint})"
        )


def b64url_decode(segment: str, where: str) -> bytes:
    """Decode one unpadded base64url JWS segment, naming ``where`` on failure."""
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise TokenFormatError(TokenFormatReason.BAD_BASE64, where, "not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenFormatError(TokenFormatReason.BAD_BASE64, where, str(exc)) from exc


def _json_object(segment: str, where: str) -> dict[str, Any]:
    data = b64url_decode(segment, where)
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TokenFormatError(TokenFormatReason.BAD_JSON, where, str(exc)) from exc
    if not isinstance(value, dict):
        raise TokenFormatError(TokenFormatReason.NOT_OBJECT, where, "not a JSON object")
    return value


def _opt_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TokenFormatError(TokenFormatReason.BAD_CLAIM, f"{where}.{key}", "not a string")
    return value


def _opt_int(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    # bool is an int in Python; a boolean timestamp is nonsense, refuse it.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenFormatError(TokenFormatReason.BAD_CLAIM, key, "not a number")
    return int(value)


def _audience(payload: Mapping[str, Any]) -> tuple[str, ...]:
    # RFC 7519 section 4.1.3: aud is a string or an array of strings.
    aud = payload.get("aud")
    if aud is None:
        return ()
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return tuple(aud)
    raise TokenFormatError(TokenFormatReason.BAD_CLAIM, "aud", "not a string or list")


def _endorse_claim(payload: Mapping[str, Any]) -> EndorseClaim:
    raw = payload.get(ENDORSE_CLAIM)
    if raw is None:
        raise TokenFormatError(TokenFormatReason.MISSING_CLAIM, ENDORSE_CLAIM, "absent")
    if not isinstance(raw, dict):
        raise TokenFormatError(TokenFormatReason.BAD_CLAIM, ENDORSE_CLAIM, "not an object")
    imsi = _opt_str(raw, "imsi", ENDORSE_CLAIM)
    if imsi is None:
        raise TokenFormatError(TokenFormatReason.MISSING_CLAIM, f"{ENDORSE_CLAIM}.imsi", "absent")
    params = raw.get("requestParameters") or {}
    if not isinstance(params, dict):
        raise TokenFormatError(
            TokenFormatReason.BAD_CLAIM, f"{ENDORSE_CLAIM}.requestParameters", "not an object"
        )
    return EndorseClaim(
        imsi=imsi,
        imei=_opt_str(raw, "imei", ENDORSE_CLAIM),
        msisdn=_opt_str(raw, "msisdn", ENDORSE_CLAIM),
        sim_id=_opt_str(raw, "simId", ENDORSE_CLAIM),
        request_parameters=MappingProxyType(dict(params)),
    )


def parse_token(raw: str | bytes, *, max_size: int = MAX_TOKEN_BYTES) -> Token:
    """Parse a compact JWS into a :class:`Token` without checking its signature.

    Raises :class:`TokenFormatError` naming the segment or claim at fault for anything that
    is not a three-part base64url JWT of JSON objects with an ``exp`` and an Endorse claim
    carrying an IMSI.
    """
    if len(raw) > max_size:
        raise TokenFormatError(
            TokenFormatReason.OVERSIZED, "token", f"{len(raw)} bytes > {max_size}"
        )
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise TokenFormatError(TokenFormatReason.NOT_ASCII, "token", str(exc)) from exc
    raw = raw.strip()
    if not raw:
        raise TokenFormatError(TokenFormatReason.EMPTY, "token", "empty")
    if not raw.isascii():
        raise TokenFormatError(TokenFormatReason.NOT_ASCII, "token", "non-ASCII characters")
    parts = raw.split(".")
    if len(parts) != 3:
        raise TokenFormatError(
            TokenFormatReason.SEGMENT_COUNT, "token", f"{len(parts)} segments, expected 3"
        )
    header = _json_object(parts[0], "header")
    payload = _json_object(parts[1], "payload")
    b64url_decode(parts[2], "signature")

    alg = _opt_str(header, "alg", "header")
    if alg is None:
        raise TokenFormatError(TokenFormatReason.MISSING_CLAIM, "header.alg", "absent")
    expires_at = _opt_int(payload, "exp")
    if expires_at is None:
        raise TokenFormatError(TokenFormatReason.MISSING_CLAIM, "exp", "absent")
    return Token(
        raw=raw,
        header=TokenHeader(
            alg=alg, kid=_opt_str(header, "kid", "header"), typ=_opt_str(header, "typ", "header")
        ),
        issuer=_opt_str(payload, "iss", "payload"),
        audience=_audience(payload),
        subject=_opt_str(payload, "sub", "payload"),
        jwt_id=_opt_str(payload, "jti", "payload"),
        issued_at=_opt_int(payload, "iat"),
        not_before=_opt_int(payload, "nbf"),
        expires_at=expires_at,
        claim=_endorse_claim(payload),
    )
