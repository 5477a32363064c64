"""The access policy: IMSI allowlist, IMEI binding, nonce challenge, role choice."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from endorse_ble.exchange.allowlist import ConfigAllowlist
from endorse_ble.exchange.config import AllowEntry
from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.exchange.policy import AccessPolicy, Grant
from endorse_ble.tokenlink.token import EndorseClaim, Token, TokenHeader

DEFAULT_ROLE = "arn:aws:iam::123456789012:role/default"
OWN_ROLE = "arn:aws:iam::123456789012:role/own"
ALLOW = (
    AllowEntry("440100000000001", "356938035643809", OWN_ROLE),
    AllowEntry("440100000000002"),
)


def token(imsi: str, imei: str | None = "356938035643809", **params: Any) -> Token:
    """A verified-looking token for ``imsi`` with request parameters ``params``."""
    return Token(
        raw="x.y.z",
        header=TokenHeader(alg="RS256", kid="k"),
        issuer="https://soracom.io",
        audience=("soracom-endorse-audience",),
        subject="soracom-endorse",
        jwt_id="j" * 22,
        issued_at=0,
        not_before=0,
        expires_at=600,
        claim=EndorseClaim(imsi=imsi, imei=imei, request_parameters=MappingProxyType(params)),
    )


@pytest.fixture
def policy() -> AccessPolicy:
    """The test allowlist with a default role, nonce optional."""
    return AccessPolicy(ConfigAllowlist(ALLOW), DEFAULT_ROLE, require_nonce=False)


def test_grants_the_entry_role_or_the_default(policy: AccessPolicy) -> None:
    """An entry's own role wins; otherwise the default role is used."""
    assert policy.decide(token("440100000000001"), None) == Grant(
        "440100000000001", "356938035643809", OWN_ROLE
    )
    assert policy.decide(token("440100000000002", imei=None), None).role_arn == DEFAULT_ROLE


@pytest.mark.parametrize(
    ("tok", "nonce", "require", "code"),
    [
        (token("440109999999999"), None, False, ErrorCode.IMSI_NOT_ALLOWED),
        (token("440100000000001", imei="490154203237518"), None, False, ErrorCode.IMEI_MISMATCH),
        (token("440100000000001", imei=None), None, False, ErrorCode.IMEI_MISMATCH),
        (token("440100000000001"), None, True, ErrorCode.NONCE_REQUIRED),
        (token("440100000000001"), "n-1", False, ErrorCode.NONCE_MISMATCH),
        (token("440100000000001", nonce="n-2"), "n-1", True, ErrorCode.NONCE_MISMATCH),
        (token("440100000000001", nonce=["n-1", "n-2"]), "n-1", True, ErrorCode.NONCE_MISMATCH),
    ],
)
def test_refusals(tok: Token, nonce: str | None, require: bool, code: ErrorCode) -> None:
    """Each policy violation is refused with its own code."""
    with pytest.raises(ExchangeError) as info:
        AccessPolicy(ConfigAllowlist(ALLOW), DEFAULT_ROLE, require_nonce=require).decide(tok, nonce)
    assert info.value.code is code
    assert int(info.value.status) == 403


def test_matching_nonce_passes() -> None:
    """The request's nonce equal to the signed one (or a one-item list of it) passes."""
    strict = AccessPolicy(ConfigAllowlist(ALLOW), DEFAULT_ROLE, require_nonce=True)
    assert strict.decide(token("440100000000001", nonce="n-1"), "n-1").imsi == "440100000000001"
    assert strict.decide(token("440100000000001", nonce=["n-1"]), "n-1").role_arn == OWN_ROLE


def test_empty_allowlist_refuses_everyone() -> None:
    """With no allow entries nobody gets credentials."""
    with pytest.raises(ExchangeError) as info:
        AccessPolicy(ConfigAllowlist(()), DEFAULT_ROLE, require_nonce=False).decide(
            token("440100000000001"), None
        )
    assert info.value.code is ErrorCode.IMSI_NOT_ALLOWED
