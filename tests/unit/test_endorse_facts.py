"""Endorse's published facts and the kid rule: a kid names a URL only when it is safe."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.tokenlink.endorse import KEYSTORE_URL, KID_PATTERN, is_safe_kid

HEX = "0123456789abcdef"
ANYTHING = re.compile(r".*", re.DOTALL)


@given(st.text(alphabet=HEX, min_size=32, max_size=32))
def test_published_kids_are_safe(digits: str) -> None:
    assert is_safe_kid(f"v1-{digits}-x509.pem")


@pytest.mark.parametrize(
    "kid",
    [
        "v1-" + HEX.upper() * 2 + "-x509.pem",  # upper-case hex is not the published form
        "v1-" + HEX * 2 + "-x509.pem\n",  # $ would match before a newline; fullmatch does not
        "v1-" + HEX * 2 + "-x509.pem/../other",
        "v1-" + HEX + "-x509.pem",
        "",
        None,
        42,
        b"v1-" + HEX.encode() * 2 + b"-x509.pem",
    ],
)
def test_other_kids_are_refused(kid: object) -> None:
    assert not is_safe_kid(kid)


@pytest.mark.parametrize(
    "kid",
    ["../secret", "a/b", "a?b", "a#b", "%2e%2e", "http:x", "a\\b", "a b", "x" * 129, "é"],
)
def test_the_floor_holds_whatever_the_pattern(kid: str) -> None:
    """A permissive configured pattern cannot let a kid leave the keystore prefix."""
    assert not is_safe_kid(kid, ANYTHING)


@given(st.text(max_size=140))
def test_a_safe_kid_never_changes_the_url_it_is_appended_to(kid: str) -> None:
    if is_safe_kid(kid, ANYTHING):
        url = KEYSTORE_URL + kid
        assert url.startswith(KEYSTORE_URL)
        assert not set(kid) & set("/?#%:\\@ ")
        assert ".." not in kid


def test_the_kid_pattern_is_anchored_text_for_configuration() -> None:
    """The exchange's configurable default is this pattern's text (docs/exchange-api.md)."""
    assert KID_PATTERN.pattern == r"^v1-[0-9a-f]{32}-x509\.pem$"
