"""Issue temporary AWS credentials for a grant with STS AssumeRole."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from endorse_ble.exchange.aws_clients import AWS_ERRORS, aws_error_code
from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.exchange.policy import Grant

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient
    from mypy_boto3_sts.type_defs import TagTypeDef

log = logging.getLogger(__name__)

# AssumeRole RoleSessionName: 2-64 characters of [\w+=,.@-] (AWS STS API reference).
_SESSION_NAME_BAD = re.compile(r"[^A-Za-z0-9_+=,.@-]")
_SESSION_NAME_MAX = 64


@dataclass(frozen=True, repr=False)
class Credentials:
    """Temporary AWS credentials; ``repr`` shows only the access key id."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime

    def to_json(self) -> dict[str, str]:
        """The wire form (the names AWS uses), Expiration in RFC 3339 UTC."""
        return {
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "SessionToken": self.session_token,
            "Expiration": rfc3339(self.expiration),
        }

    def __repr__(self) -> str:
        return f"Credentials(access_key_id={self.access_key_id!r}, expiration={self.expiration})"


def rfc3339(moment: datetime) -> str:
    """``2026-01-02T03:04:05Z``: RFC 3339 in UTC, whole seconds."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def role_session_name(prefix: str, imsi: str) -> str:
    """A valid RoleSessionName naming the SIM, so CloudTrail shows which SIM acted."""
    name = _SESSION_NAME_BAD.sub("-", prefix + imsi)[:_SESSION_NAME_MAX]
    return name if len(name) >= 2 else name + "--"


def session_tags(grant: Grant) -> list[TagTypeDef]:
    """Session tags (``imsi``, ``imei``, ``jkt``) that policies can test with
    aws:PrincipalTag; CloudTrail records them, so it shows which SIM and which laptop key."""
    tags: list[TagTypeDef] = [{"Key": "imsi", "Value": grant.imsi}]
    if grant.imei is not None:
        tags.append({"Key": "imei", "Value": grant.imei})
    if grant.laptop is not None:
        tags.append({"Key": "jkt", "Value": grant.laptop})
    return tags


class CredentialIssuer(Protocol):
    """The seam between the exchange and whatever mints credentials."""

    def issue(self, grant: Grant) -> Credentials:
        """Credentials for ``grant``; raises ExchangeError(ISSUER_FAILED) on failure."""
        ...


class StsIssuer:
    """Issue credentials with ``sts:AssumeRole`` (the role must trust ``sts:TagSession``)."""

    def __init__(self, client: STSClient, duration_seconds: int, session_prefix: str) -> None:
        self._client = client
        self._duration = duration_seconds
        self._prefix = session_prefix

    def issue(self, grant: Grant) -> Credentials:
        """Assume the grant's role for the configured duration."""
        try:
            answer = self._client.assume_role(
                RoleArn=grant.role_arn,
                RoleSessionName=role_session_name(self._prefix, grant.imsi),
                DurationSeconds=self._duration,
                Tags=session_tags(grant),
            )
        except AWS_ERRORS as exc:
            log.error("AssumeRole %s failed: %s", grant.role_arn, aws_error_code(exc))
            raise ExchangeError(
                ErrorCode.ISSUER_FAILED, "the credential service refused or failed"
            ) from None
        raw = answer["Credentials"]
        return Credentials(
            access_key_id=raw["AccessKeyId"],
            secret_access_key=raw["SecretAccessKey"],
            session_token=raw["SessionToken"],
            expiration=raw["Expiration"],
        )
