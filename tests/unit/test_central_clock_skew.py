"""Naming the clock that is off: laptop, exchange, or none of them."""

from __future__ import annotations

from endorse_ble.central.clock_skew import clock_advice

NOW = 1_800_000_000.0


def test_agreeing_clocks_give_no_advice() -> None:
    assert clock_advice(NOW, NOW - 2, NOW + 1) is None
    assert clock_advice(NOW, None, None) is None


def test_laptop_fast_is_named_against_endorse() -> None:
    """11 minutes fast: the fresh token's iat and the exchange both say so."""
    advice = clock_advice(NOW + 660, NOW, NOW)
    assert advice is not None and advice.startswith("this laptop's clock is 660 s ahead of")
    only_iat = clock_advice(NOW + 660, NOW, None)
    assert only_iat is not None and "laptop's clock is 660 s ahead" in only_iat


def test_exchange_off_is_named_when_laptop_and_endorse_agree() -> None:
    advice = clock_advice(NOW, NOW - 1, NOW + 3600)
    assert advice is not None and advice.startswith("the exchange's clock is 3600 s ahead of")


def test_an_old_token_is_not_blamed_on_a_clock() -> None:
    """Laptop and exchange agree and the token is simply old: no clock is off."""
    assert clock_advice(NOW, NOW - 3600, NOW) is None
