"""Verify an Endorse token: RS256 only, a checked kid, then Endorse's claims and times.

Order matters for safety and cost: the size is bounded before any parsing, the header's
``alg`` and ``kid`` are checked before the kid names a URL, the signature is verified (by
PyJWT, with ``algorithms=["RS256"]`` and an RSA key object, so the HS256-with-the-public-key
confusion of RFC 8725 section 2.1 cannot happen) before any claim is trusted.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.exceptions import InvalidJTIError, InvalidSubjectError

from endorse_ble.exchange.config import IMEI_PATTERN, IMSI_PATTERN, TokenSettings
from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.tokenlink.errors import TokenFormatError
from endorse_ble.tokenlink.token import (
    ENDORSE_CLAIM,
    EndorseClaim,
    Token,
    TokenHeader,
    b64url_decode,
)

ALGORITHM = "RS256"
#: Claims every Endorse token carries (endorse-facts.md, "The token").
REQUIRED_CLAIMS = ("iss", "aud", "sub", "jti", "iat", "nbf", "exp", ENDORSE_CLAIM)
# jti is a replay-cache key: printable ASCII and bounded (Endorse's are 22 base64url chars).
_JTI = re.compile(r"[\x21-\x7e]{1,128}")
# 9999-12-31T23:59:59Z: the last NumericDate accepted (keeps arithmetic on dates finite).
_LATEST_DATE = 253402300799


class KeySource(Protocol):
    """Where the verifier gets public keys (the keystore cache)."""

    def get(self, kid: str) -> rsa.RSAPublicKey:
        """The RSA public key for ``kid``; raises ExchangeError when there is none."""
        ...


def _refuse(code: ErrorCode, message: str) -> ExchangeError:
    return ExchangeError(code, message)


# PyJWT exception -> our code. Checked in order: subclasses before their bases.
_PYJWT_ERRORS: tuple[tuple[type[Exception], ErrorCode, str], ...] = (
    (jwt.InvalidSignatureError, ErrorCode.BAD_SIGNATURE, "the token's signature is invalid"),
    (jwt.InvalidAlgorithmError, ErrorCode.UNSUPPORTED_ALGORITHM, "only RS256 is accepted"),
    (jwt.MissingRequiredClaimError, ErrorCode.INVALID_CLAIMS, "a required claim is missing"),
    (jwt.InvalidIssuerError, ErrorCode.INVALID_CLAIMS, "the token's issuer is not Endorse"),
    (jwt.InvalidAudienceError, ErrorCode.INVALID_CLAIMS, "the token's audience is wrong"),
    (InvalidSubjectError, ErrorCode.INVALID_CLAIMS, "the token's subject is wrong"),
    (InvalidJTIError, ErrorCode.INVALID_CLAIMS, "the token's jti is not a string"),
    (jwt.DecodeError, ErrorCode.MALFORMED_TOKEN, "the token is not a well-formed JWS"),
    (jwt.InvalidTokenError, ErrorCode.INVALID_CLAIMS, "the token's claims are invalid"),
)


def _map_pyjwt(exc: jwt.InvalidTokenError) -> ExchangeError:
    for kind, code, message in _PYJWT_ERRORS:
        if isinstance(exc, kind):
            return _refuse(code, message)
    return _refuse(ErrorCode.INVALID_CLAIMS, "the token is invalid")  # pragma: no cover


def _timestamp(payload: Mapping[str, Any], name: str) -> int:
    value = payload[name]
    # RFC 7519 section 2 NumericDate; a boolean is an int in Python but never a date. JSON
    # gives 1e400 as inf and accepts NaN; neither is a moment, nor is a date past year 9999.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not -_LATEST_DATE <= value <= _LATEST_DATE  # False for NaN
    ):
        raise _refuse(ErrorCode.INVALID_CLAIMS, f"the token's {name} is not a NumericDate")
    return int(value)


def _optional_digits(claim: Mapping[str, Any], key: str, pattern: re.Pattern[str]) -> str | None:
    value = claim.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _refuse(ErrorCode.INVALID_CLAIMS, f"the token's {key} is malformed")
    return value


def _endorse_claim(payload: Mapping[str, Any]) -> EndorseClaim:
    claim = payload[ENDORSE_CLAIM]
    if not isinstance(claim, dict):
        raise _refuse(ErrorCode.INVALID_CLAIMS, f"{ENDORSE_CLAIM} is not an object")
    imsi = _optional_digits(claim, "imsi", IMSI_PATTERN)
    if imsi is None:
        raise _refuse(ErrorCode.INVALID_CLAIMS, "the token names no IMSI")
    params = claim.get("requestParameters", {})
    if not isinstance(params, dict):
        raise _refuse(ErrorCode.INVALID_CLAIMS, "requestParameters is not an object")
    msisdn, sim_id = claim.get("msisdn"), claim.get("simId")
    return EndorseClaim(
        imsi=imsi,
        imei=_optional_digits(claim, "imei", IMEI_PATTERN),
        msisdn=msisdn if isinstance(msisdn, str) else None,
        sim_id=sim_id if isinstance(sim_id, str) else None,
        request_parameters=MappingProxyType(params),
    )


def read_header(raw: str) -> dict[str, Any]:
    """Decode only the JOSE header of a compact JWS (the payload is left for PyJWT).

    PyJWT's own unverified parse would decode the whole token a second time.
    """
    if raw.count(".") != 2:
        raise _refuse(ErrorCode.MALFORMED_TOKEN, "the token is not three base64url segments")
    try:
        header = json.loads(b64url_decode(raw.partition(".")[0], "header"))
    except (TokenFormatError, ValueError, RecursionError):
        # ValueError: not UTF-8, not JSON, or an integer past Python's int-string limit.
        raise _refuse(ErrorCode.MALFORMED_TOKEN, "the token header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise _refuse(ErrorCode.MALFORMED_TOKEN, "the token header is not a JSON object")
    return header


class _HeaderCache:
    """Parsed JOSE headers, keyed by their encoded segment (bounded).

    Every token from one Endorse key carries the same header, so it is decoded once. Only
    the header is cached, never a verdict on a token.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._headers: dict[str, dict[str, Any]] = {}

    def get(self, raw: str) -> dict[str, Any]:
        segment = raw.partition(".")[0]
        header = self._headers.get(segment)
        if header is None or raw.count(".") != 2:
            header = read_header(raw)
            if len(self._headers) >= self._size:
                self._headers.clear()
            self._headers[segment] = header
        return header


class TokenVerifier:
    """Check an Endorse token's signature and claims; pure apart from the key lookup."""

    def __init__(
        self,
        settings: TokenSettings,
        keys: KeySource,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._keys = keys
        self._clock = clock
        self._headers = _HeaderCache()
        self._options: Any = {
            "require": list(REQUIRED_CLAIMS),
            # Times are checked below against the injected clock, with distinct error codes
            # and the maximum age PyJWT has no option for.
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
        }

    def verify(self, raw: object) -> Token:
        """Return the verified token, or raise ExchangeError naming why it was refused."""
        if not isinstance(raw, str):
            raise _refuse(ErrorCode.MALFORMED_REQUEST, "the token must be a string")
        # Bounded before anything looks inside it.
        if len(raw) > self._settings.max_bytes:
            raise _refuse(
                ErrorCode.TOKEN_TOO_LARGE, f"the token exceeds {self._settings.max_bytes} bytes"
            )
        if not raw.isascii():
            raise _refuse(ErrorCode.MALFORMED_TOKEN, "the token is not ASCII")
        header = self._headers.get(raw)
        if header.get("alg") != ALGORITHM:
            raise _refuse(ErrorCode.UNSUPPORTED_ALGORITHM, "only RS256 is accepted")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise _refuse(ErrorCode.INVALID_KID, "the token header has no kid")
        key = self._keys.get(kid)
        s = self._settings
        try:
            payload = jwt.decode(
                raw,
                key,
                algorithms=[ALGORITHM],
                audience=s.audience,
                issuer=s.issuer,
                subject=s.subject,
                options=self._options,
            )
        except jwt.InvalidTokenError as exc:
            raise _map_pyjwt(exc) from None
        self._check_times(payload)
        typ = header.get("typ")
        jti = payload["jti"]
        if not isinstance(jti, str) or not _JTI.fullmatch(jti):
            raise _refuse(ErrorCode.INVALID_CLAIMS, "the token's jti is malformed")
        return Token(
            raw=raw,
            header=TokenHeader(alg=ALGORITHM, kid=kid, typ=typ if isinstance(typ, str) else None),
            issuer=s.issuer,
            audience=(s.audience,),
            subject=s.subject,
            jwt_id=jti,
            issued_at=_timestamp(payload, "iat"),
            not_before=_timestamp(payload, "nbf"),
            expires_at=_timestamp(payload, "exp"),
            claim=_endorse_claim(payload),
        )

    def _check_times(self, payload: Mapping[str, Any]) -> None:
        # RFC 7519 sections 4.1.4-4.1.6, each with the configured leeway for clock skew.
        now = self._clock()
        leeway = self._settings.leeway_seconds
        exp = _timestamp(payload, "exp")
        nbf = _timestamp(payload, "nbf")
        iat = _timestamp(payload, "iat")
        if now >= exp + leeway:
            raise _refuse(ErrorCode.TOKEN_EXPIRED, "the token has expired")
        if now + leeway < nbf or now + leeway < iat:
            raise _refuse(ErrorCode.TOKEN_NOT_YET_VALID, "the token is not valid yet")
        if now - iat > self._settings.max_age_seconds + leeway:
            raise _refuse(ErrorCode.TOKEN_TOO_OLD, "the token was issued too long ago")
