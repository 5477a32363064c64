"""Hostile text shown anywhere: one printable bounded line, and no token in it."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.tokenlink.redact import redact_tokens
from endorse_ble.tokenlink.text import CUT_MARK, one_line

# A real RS256 Endorse-shaped token (header, payload, signature), as a byte literal.
JWT = (
    b"eyJhbGciOiJSUzI1NiIsImtpZCI6InYxLTAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmLXg1MDkucGVtIn0"
    b".eyJpc3MiOiJodHRwczovL3NvcmFjb20uaW8iLCJleHAiOjE3MDAwMDAwMDB9"
    b".c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"
).decode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token ready", "token ready"),
        ("line one\nREADY=1", "line one READY=1"),
        ("  tabs\tand\r\n\x00nul  ", "tabs and nul"),
        ("\x1b[31mred\x1b[0m", "[31mred [0m"),
        ("lone \ud800 surrogate", "lone surrogate"),
        ("", ""),
    ],
)
def test_one_line_examples(text: str, expected: str) -> None:
    """Unprintable characters become single spaces and the ends are trimmed."""
    assert one_line(text, 200) == expected


def test_one_line_cuts_with_the_mark() -> None:
    assert one_line("x" * 1000, 200) == "x" * 197 + CUT_MARK
    assert one_line("abcdef", 4) == "a..."
    assert one_line("abcdef", 6) == "abcdef"
    assert one_line("abc def", 5) == "ab..."
    assert one_line("abcdef", 2) == "ab"  # no room for the mark
    with pytest.raises(ValueError):
        one_line("abc", 0)


@given(st.text(), st.integers(min_value=1, max_value=300))
def test_one_line_is_always_one_bounded_printable_line(text: str, limit: int) -> None:
    """Whatever the input, the result is printable, has no newline and fits the limit."""
    line = one_line(text, limit)
    assert len(line) <= limit
    assert line.isprintable()
    assert "\n" not in line
    assert line == line.strip()
    line.encode("utf-8")  # no lone surrogates survive


@given(st.text(alphabet="ab \n\t", max_size=50))
def test_one_line_keeps_short_text_apart_from_whitespace(text: str) -> None:
    assert one_line(text, 100) == " ".join(text.split())


@pytest.mark.parametrize(
    "text",
    [
        f"body {{'token': '{JWT}'}}",
        f"cut short: {JWT[:40]}",  # an excerpt that ends inside the header
        f"header only {JWT.split('.')[0]}",
        "three runs abcdefgh.ijklmnop.qrs",  # the JWS shape without an eyJ header
    ],
)
def test_redact_tokens_leaves_no_token_material(text: str) -> None:
    redacted = redact_tokens(text)
    assert "eyJ" not in redacted
    assert not re.search(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.", redacted)
    assert "<token-like len=" in redacted


def test_redact_tokens_names_length_and_hash_prefix() -> None:
    redacted = redact_tokens(f"a {JWT} b")
    assert redacted.startswith("a <token-like len=") and redacted.endswith("> b")
    assert f"len={len(JWT)} " in redacted


@given(st.text(alphabet=st.characters(blacklist_characters="."), max_size=80))
def test_redact_tokens_leaves_dotless_text_without_eyj_alone(text: str) -> None:
    if "eyJ" not in text:
        assert redact_tokens(text) == text


@given(st.text(max_size=40), st.text(max_size=40))
def test_a_token_between_any_texts_is_always_redacted(before: str, after: str) -> None:
    assert JWT not in redact_tokens(before + JWT + after)
