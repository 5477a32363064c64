"""The wait rule: a number of seconds in (0, 3600], for options, config files and profiles."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.tokenlink.durations import MAX_WAIT_SECONDS, WAIT_RULE, is_wait_seconds


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (0.001, True),
        (1, True),
        (10.0, True),
        (3600, True),
        (3600.0, True),
        (0, False),
        (0.0, False),
        (-1, False),
        (3600.0001, False),
        (math.nan, False),
        (math.inf, False),
        (True, False),
        ("10", False),
        (None, False),
    ],
)
def test_wait_rule(value: object, ok: bool) -> None:
    assert is_wait_seconds(value) is ok


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_float_is_judged_by_the_bounds_alone(value: float) -> None:
    assert is_wait_seconds(value) is (0 < value <= MAX_WAIT_SECONDS)


def test_the_rule_reads_as_it_checks() -> None:
    assert WAIT_RULE == "a number of seconds in (0, 3600]"
