"""RoleSessionName, session tags and RFC 3339 formatting for the STS issuer."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.exchange.issuer import rfc3339, role_session_name, session_tags
from endorse_ble.exchange.policy import Grant

# AWS STS API reference, AssumeRole: RoleSessionName is 2-64 characters of [\w+=,.@-].
VALID_SESSION_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]{2,64}")


def test_session_name_names_the_imsi() -> None:
    """A plain IMSI gives ``endorse-<imsi>``."""
    assert role_session_name("endorse-", "440103123456789") == "endorse-440103123456789"


@given(st.text(max_size=80), st.text(max_size=80))
def test_session_name_is_always_valid(prefix: str, imsi: str) -> None:
    """Whatever the prefix and IMSI, the name fits STS's charset and length."""
    assert VALID_SESSION_NAME.fullmatch(role_session_name(prefix, imsi))


def test_session_tags_carry_imsi_and_imei() -> None:
    """Tags are imsi and, when known, imei."""
    assert session_tags(Grant("4401", "3569", "arn:r")) == [
        {"Key": "imsi", "Value": "4401"},
        {"Key": "imei", "Value": "3569"},
    ]
    assert session_tags(Grant("4401", None, "arn:r")) == [{"Key": "imsi", "Value": "4401"}]


def test_session_tags_name_the_laptop_key() -> None:
    """With key binding the proof's thumbprint is the ``jkt`` tag, within STS's charset."""
    jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    tags = session_tags(Grant("4401", None, "arn:r", laptops=(jkt,), laptop=jkt))
    assert tags == [{"Key": "imsi", "Value": "4401"}, {"Key": "jkt", "Value": jkt}]
    # AWS STS API reference, Tag: values match [\p{L}\p{Z}\p{N}_.:/=+\-@]*, at most 256.
    assert re.fullmatch(r"[A-Za-z0-9_.:/=+\-@ ]{1,256}", jkt)


def test_rfc3339_is_utc_with_z() -> None:
    """Aware times convert to UTC; naive ones are taken as UTC."""
    tokyo = timezone(timedelta(hours=9))
    assert rfc3339(datetime(2026, 1, 2, 12, 0, 0, 500, tzinfo=tokyo)) == "2026-01-02T03:00:00Z"
    assert rfc3339(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05Z"
    assert rfc3339(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
