"""The one nonce rule: 8..64 base64url characters, from the air, the gateway or a request."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.tokenlink.nonce import NonceError, NonceProblem, check_nonce

BASE64URL = string.ascii_letters + string.digits + "-_"


@pytest.mark.parametrize(
    ("nonce", "problem"),
    [
        (b"abcdEFGH", None),
        (b"A" * 64, None),
        (b"a-b_c0123", None),
        ("abcdEFGH", None),
        (b"short", NonceProblem.LENGTH),
        (b"", NonceProblem.LENGTH),
        (b"A" * 65, NonceProblem.LENGTH),
        (b"abcd efgh", NonceProblem.ALPHABET),
        (b"abcd&x=1", NonceProblem.ALPHABET),
        (b"abcd.efgh", NonceProblem.ALPHABET),
        (b"\xff" * 10, NonceProblem.ALPHABET),
        ("n\u00f6n-ascii", NonceProblem.ALPHABET),
        ("newline\nnonce1", NonceProblem.ALPHABET),
        ("percent%20escape", NonceProblem.ALPHABET),
        (None, NonceProblem.NOT_TEXT),
        (12345678, NonceProblem.NOT_TEXT),
        (["abcdefgh"], NonceProblem.NOT_TEXT),
    ],
)
def test_nonce_rule(nonce: object, problem: NonceProblem | None) -> None:
    if problem is None:
        assert isinstance(nonce, str | bytes)
        expected = nonce.decode() if isinstance(nonce, bytes) else nonce
        assert check_nonce(nonce) == expected
    else:
        with pytest.raises(NonceError) as caught:
            check_nonce(nonce)
        assert caught.value.problem is problem


@given(st.text(max_size=100))
def test_accepts_exactly_8_to_64_base64url_characters(nonce: str) -> None:
    """Any text is returned unchanged or refused, by this rule and no other."""
    ok = 8 <= len(nonce) <= 64 and all(c in BASE64URL for c in nonce)
    if ok:
        assert check_nonce(nonce) == nonce
        assert check_nonce(nonce.encode()) == nonce
    else:
        with pytest.raises(NonceError):
            check_nonce(nonce)


@given(st.binary(max_size=100))
def test_bytes_from_the_air_are_checked_the_same_way(data: bytes) -> None:
    ok = 8 <= len(data) <= 64 and all(chr(b) in BASE64URL for b in data)
    if ok:
        assert check_nonce(data) == data.decode()
    else:
        with pytest.raises(NonceError):
            check_nonce(data)


@given(st.text(min_size=7, max_size=200))
def test_a_refusal_never_echoes_the_nonce(text: str) -> None:
    nonce = "\x01" + text  # a control character no message contains: always refused
    with pytest.raises(NonceError) as caught:
        check_nonce(nonce)
    assert nonce not in str(caught.value)
    assert str(len(nonce)) in str(caught.value)
