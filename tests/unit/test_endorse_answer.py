"""Endorse's answer is read without trust: bounded, JSON, a parseable token, the nonce."""

from __future__ import annotations

import json
import string
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.peripheral.endorse_answer import (
    check_declared_length,
    check_status,
    excerpt,
    nonce_query,
    token_from_body,
)
from endorse_ble.peripheral.errors import EndorseFetchError, EndorseFetchReason
from endorse_ble.testbed.endorse_keys import EndorseSigner, SimIdentity


@pytest.fixture(scope="module")
def signer() -> EndorseSigner:
    return EndorseSigner()


@given(st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=8, max_size=64))
def test_nonce_query_decodes_back_to_the_same_nonce(nonce: str) -> None:
    """Any valid nonce survives encoding exactly, as a standard query parser reads it."""
    assert urllib.parse.parse_qsl(nonce_query(nonce), keep_blank_values=True) == [("nonce", nonce)]


@pytest.mark.parametrize("nonce", ["", "short", "x" * 65, "a b&c=d/\u00e9-long-enough"])
def test_nonce_query_refuses_nonces_outside_the_rule(nonce: str) -> None:
    """A nonce that breaks the nonce rule is BAD_NONCE, not sent, and not echoed."""
    with pytest.raises(EndorseFetchError) as caught:
        nonce_query(nonce)
    assert caught.value.reason is EndorseFetchReason.BAD_NONCE
    assert not nonce or nonce not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "reason", "quoted"),
    [
        (403, b'{"code": "X", "message": "not over the SIM link"}', EndorseFetchReason.REFUSED,
         "not over the SIM link"),
        (400, b"plain\ntext\x00body", EndorseFetchReason.REFUSED, "plain text body"),
        (503, b"", EndorseFetchReason.SERVER_ERROR, "empty body"),
        (302, b"moved", EndorseFetchReason.UNEXPECTED_STATUS, "moved"),
        (204, b"", EndorseFetchReason.UNEXPECTED_STATUS, "HTTP 204"),
    ],
)  # fmt: skip
def test_non_200_statuses_are_classified_and_quoted(
    status: int, body: bytes, reason: EndorseFetchReason, quoted: str
) -> None:
    """4xx is REFUSED, 5xx SERVER_ERROR, anything else UNEXPECTED_STATUS, body quoted safely."""
    with pytest.raises(EndorseFetchError) as caught:
        check_status(status, body)
    assert caught.value.reason is reason
    assert caught.value.status == status
    assert quoted in str(caught.value)
    assert "\n" not in str(caught.value)


def test_200_passes_the_status_check() -> None:
    """A 200 raises nothing."""
    check_status(200, b"")


def test_excerpt_never_carries_a_token(signer: EndorseSigner) -> None:
    """A JWT (or a fragment of one) in a quoted body is replaced by its length and hash."""
    token = signer.mint(SimIdentity())
    text = excerpt(json.dumps({"message": "bad", "token": token[:200]}).encode())
    assert "eyJ" not in text
    assert "token-like len=200" in text


def test_excerpt_is_short_and_single_line() -> None:
    """A long multi-line body is cut to a printable single line."""
    text = excerpt(b"line\r\n" * 1000)
    assert len(text) <= 123
    assert text.endswith("...")
    assert "\n" not in text and "\r" not in text


@pytest.mark.parametrize(
    ("header", "reason"),
    [("65537", EndorseFetchReason.BODY_TOO_LARGE), ("12x", EndorseFetchReason.NOT_JSON)],
)
def test_declared_length_over_the_limit_or_malformed_is_refused_before_reading(
    header: str, reason: EndorseFetchReason
) -> None:
    """A Content-Length above the limit, or not a number, is refused up front."""
    with pytest.raises(EndorseFetchError) as caught:
        check_declared_length(header, 65536)
    assert caught.value.reason is reason


@pytest.mark.parametrize("header", [None, "0", "65536"])
def test_declared_length_within_the_limit_passes(header: str | None) -> None:
    """No Content-Length, or one within the limit, is fine."""
    check_declared_length(header, 65536)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>captive portal</html>", EndorseFetchReason.NOT_JSON),
        (b'{"token": "eyJ', EndorseFetchReason.NOT_JSON),
        (b"\xff\xfe\x00", EndorseFetchReason.NOT_JSON),
        (b"[" * 100000, EndorseFetchReason.NOT_JSON),
        (b'["token"]', EndorseFetchReason.NOT_JSON),
        (b"{}", EndorseFetchReason.NO_TOKEN),
        (b'{"token": 5}', EndorseFetchReason.NO_TOKEN),
        (b'{"token": null}', EndorseFetchReason.NO_TOKEN),
        (b'{"token": "not.a.jwt"}', EndorseFetchReason.BAD_TOKEN),
        (b'{"token": ""}', EndorseFetchReason.BAD_TOKEN),
    ],
)
def test_bodies_without_a_usable_token_are_refused_by_reason(
    body: bytes, reason: EndorseFetchReason
) -> None:
    """Each kind of unusable 200 body gets its own reason."""
    with pytest.raises(EndorseFetchError) as caught:
        token_from_body(body, None)
    assert caught.value.reason is reason
    assert "eyJ" not in str(caught.value)


def test_a_token_body_yields_the_parsed_token(signer: EndorseSigner) -> None:
    """A well-formed answer gives the token, its claims parsed."""
    raw = signer.mint(SimIdentity(imsi="001010000000001"))
    token = token_from_body(json.dumps({"token": raw}).encode(), None)
    assert token.raw == raw
    assert token.claim.imsi == "001010000000001"
    assert token.header.kid == signer.kid


@pytest.mark.parametrize(
    ("params", "carried"), [(None, "no nonce"), ({"nonce": "other"}, "a different nonce")]
)
def test_a_token_without_the_requested_nonce_is_refused(
    signer: EndorseSigner, params: dict[str, str] | None, carried: str
) -> None:
    """Asking for a nonce and getting a token without it (or with another) is refused."""
    raw = signer.mint(SimIdentity(), request_parameters=params)
    with pytest.raises(EndorseFetchError) as caught:
        token_from_body(json.dumps({"token": raw}).encode(), "mine")
    assert caught.value.reason is EndorseFetchReason.NONCE_MISMATCH
    assert carried in str(caught.value)


def test_a_token_with_the_requested_nonce_is_accepted(signer: EndorseSigner) -> None:
    """The requested nonce in requestParameters is accepted."""
    raw = signer.mint(SimIdentity(), request_parameters={"nonce": "mine"})
    assert token_from_body(json.dumps({"token": raw}).encode(), "mine").nonce == "mine"
