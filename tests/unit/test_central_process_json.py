"""The flat JSON subset and UTC timestamps the cached credential-process path reads."""

from __future__ import annotations

import datetime
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.central.process_json import (
    format_utc,
    is_plain_string,
    parse_flat_object,
    parse_utc,
    render_flat_object,
)

plain = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).filter(
    is_plain_string
)
values = st.one_of(plain, st.integers(min_value=-(10**17), max_value=10**17))


@given(st.dictionaries(plain, values, max_size=8))
def test_render_matches_json_dumps_and_parses_back(data: dict[str, str | int]) -> None:
    """What we write is byte-identical to json.dumps and reads back to the same dict."""
    text = render_flat_object(list(data.items()))
    assert text == json.dumps(data)
    assert parse_flat_object(text) == data


@given(st.text(max_size=80))
def test_parse_never_disagrees_with_json(text: str) -> None:
    """Any text either falls outside the subset (None) or means what json.loads says."""
    parsed = parse_flat_object(text)
    if parsed is not None:
        assert parsed == json.loads(text)


@given(st.recursive(st.none() | st.booleans() | st.floats() | st.text(), st.lists, max_leaves=5))
def test_parse_refuses_other_json(value: object) -> None:
    """Valid JSON that is not a flat object of plain strings and ints reads as None."""
    assert parse_flat_object(json.dumps({"k": value})) in (None, {"k": value})


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        '{"a": "b",}',
        '{"a": "b"} x',
        '{"a": "b", "a": "c"}',
        '{"a": "\\u0041"}',
        '{"a": 01}',
        '{"a": 1.5}',
        '{"a": true}',
        '{"a": null}',
        '{"a": ["b"]}',
        '{"a" "b"}',
        "[]",
    ],
)
def test_parse_refuses(text: str) -> None:
    """Malformed or out-of-subset documents read as None, never raise."""
    assert parse_flat_object(text) is None


@pytest.mark.parametrize("value", ['a"b', "a\\b", "a\nb", "é", "\x7f"])
def test_render_refuses_values_that_need_escapes(value: str) -> None:
    """A value that would need a JSON escape is refused rather than written wrongly."""
    with pytest.raises(ValueError):
        render_flat_object([("k", value)])


@given(
    st.datetimes(min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(9999, 12, 31))
)
def test_utc_round_trip_agrees_with_datetime(moment: datetime.datetime) -> None:
    """parse_utc(format_utc(t)) == t, and both agree with datetime's idea of the instant."""
    moment = moment.replace(microsecond=0)
    epoch = int(moment.replace(tzinfo=datetime.UTC).timestamp())
    text = format_utc(epoch)
    assert text == moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert parse_utc(text) == epoch


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-30T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T00:00:00.5Z",
        "2026-01-01 00:00:00Z",
        "\uff12026-01-01T00:00:00Z",  # a fullwidth digit: isdigit() but not ASCII
        "",
    ],
)
def test_parse_utc_refuses_other_forms(text: str) -> None:
    """Only the canonical YYYY-MM-DDTHH:MM:SSZ form is read; impossible dates are refused."""
    assert parse_utc(text) is None


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("2027-01-01T00:15:00Z", "2027-01-01T00:15:00Z"),
        ("2027-01-01T00:15:00.999999Z", "2027-01-01T00:15:00Z"),
        ("2515-01-01T00:00:00.999999+00:00", "2515-01-01T00:00:00Z"),
        ("2027-01-01T09:15:00+09:00", "2027-01-01T00:15:00Z"),
    ],
)
def test_exchange_expiration_is_normalised(value: str, canonical: str) -> None:
    """Any RFC 3339 form with a zone becomes the canonical UTC form, seconds floored."""
    from endorse_ble.central.credentials import normalize_expiration

    assert normalize_expiration(value) == canonical
