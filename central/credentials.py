"""Temporary AWS credentials as the exchange returns them, validated as hostile input.

The exchange answers ``{"credentials": {"AccessKeyId", "SecretAccessKey", "SessionToken",
"Expiration"}, "subject": {"imsi", "imei"}}`` (docs/exchange-api.md). Values end up in
shell commands, an INI file and JSON, so each is checked to be what AWS issues: printable
ASCII without whitespace, quotes or backslashes, and bounded in length.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from endorse_ble.central.credential_cache import PROCESS_KEYS, render_process_json
from endorse_ble.central.errors import ExchangeClientError, ExchangeFailure
from endorse_ble.central.process_json import format_utc, is_plain_string, parse_utc
from endorse_ble.tokenlink.redact import describe_secret

# STS: AccessKeyId 16-128 chars; session tokens are a few hundred to ~2 KB; leave room.
_LIMITS = {"AccessKeyId": 128, "SecretAccessKey": 256, "SessionToken": 8192}
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


@dataclass(frozen=True, repr=False)
class AwsCredentials:
    """A set of temporary credentials; ``expiration`` is canonical RFC 3339 UTC."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: str

    @property
    def expires_at(self) -> int:
        """Unix seconds of :attr:`expiration`."""
        value = parse_utc(self.expiration)
        assert value is not None  # canonical by construction
        return value

    def process_fields(self) -> dict[str, str]:
        """The four credential_process values by their AWS names."""
        return dict(
            zip(
                PROCESS_KEYS,
                (self.access_key_id, self.secret_access_key, self.session_token, self.expiration),
                strict=True,
            )
        )

    def process_json(self) -> str:
        """The credential_process document (Version 1), exactly as the cached path prints it."""
        return render_process_json(self.process_fields())

    def __repr__(self) -> str:
        # The access key id is not secret (it appears in CloudTrail); the rest is.
        return (
            f"AwsCredentials({self.access_key_id}, "
            f"secret {describe_secret(self.secret_access_key)}, expires {self.expiration})"
        )


@dataclass(frozen=True)
class Subject:
    """Whose SIM the exchange vouched for."""

    imsi: str | None
    imei: str | None


@dataclass(frozen=True)
class ExchangeResult:
    """A successful exchange: credentials and the SIM identity they were issued for."""

    credentials: AwsCredentials
    subject: Subject


def _bad(detail: str) -> ExchangeClientError:
    return ExchangeClientError(ExchangeFailure.BAD_RESPONSE, detail)


def normalize_expiration(value: object) -> str:
    """An RFC 3339 timestamp with a zone, as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, seconds floored)."""
    if not isinstance(value, str) or len(value) > 40:
        raise _bad("Expiration is not an RFC 3339 string")
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError as exc:
        raise _bad("Expiration is not an RFC 3339 timestamp") from exc
    if moment.tzinfo is None:
        raise _bad("Expiration has no time zone")
    # Exact integer arithmetic: float timestamps round .999999 up to the next second.
    return format_utc((moment - _EPOCH) // datetime.timedelta(seconds=1))


def _secret_field(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise _bad(f"credentials.{key} is missing or not a string")
    if len(value) > _LIMITS[key] or not is_plain_string(value) or " " in value:
        raise _bad(f"credentials.{key} is not a credential value ({len(value)} chars)")
    return value


def credentials_from_json(data: object) -> AwsCredentials:
    """Validate the ``credentials`` object of an exchange answer."""
    if not isinstance(data, dict):
        raise _bad("'credentials' is not an object")
    key_id = _secret_field(data, "AccessKeyId")
    if not key_id.isalnum():
        raise _bad("credentials.AccessKeyId is not alphanumeric")
    return AwsCredentials(
        access_key_id=key_id,
        secret_access_key=_secret_field(data, "SecretAccessKey"),
        session_token=_secret_field(data, "SessionToken"),
        expiration=normalize_expiration(data.get("Expiration")),
    )


def _identity(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    # IMSI is 15 digits, IMEI 15-16 (3GPP TS 23.003); anything else is not shown as is.
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 16:
        raise _bad(f"subject.{key} is not a digit string")
    return value


def result_from_json(body: object) -> ExchangeResult:
    """Validate a 200 answer of the exchange."""
    if not isinstance(body, dict):
        raise _bad("the answer is not a JSON object")
    subject = body.get("subject") or {}
    if not isinstance(subject, dict):
        raise _bad("'subject' is not an object")
    return ExchangeResult(
        credentials_from_json(body.get("credentials")),
        Subject(_identity(subject, "imsi"), _identity(subject, "imei")),
    )
