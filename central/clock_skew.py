"""Name the clock that is wrong when token times do not add up (pure).

Three clocks meet in one run: Endorse's (the fresh token's ``iat``, just signed), this
laptop's, and the exchange's (its HTTP ``Date``). An exchange that says a just-issued token
is expired, or credentials that look about to expire, are nearly always one of them being
off: say which, instead of advice that does not fit.
"""

from __future__ import annotations

#: Disagreement below this is ordinary (BLE and HTTP round trips, 1-second resolutions).
TOLERANCE_SECONDS = 60.0


def _relation(seconds: float) -> str:
    return f"{abs(seconds):.0f} s {'ahead of' if seconds > 0 else 'behind'}"


def _agree(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE_SECONDS


def clock_advice(
    laptop_now: float, token_iat: float | None, exchange_date: float | None
) -> str | None:
    """Which clock disagrees with the others, in words; None when they agree or when the
    odd one out cannot be told. ``token_iat`` is of the token just fetched; Endorse's
    clock is the reference when two clocks disagree."""
    if exchange_date is not None and not _agree(laptop_now, exchange_date):
        if token_iat is not None and _agree(laptop_now, token_iat):
            return (
                f"the exchange's clock is {_relation(exchange_date - laptop_now)} this "
                "laptop's and Endorse's (its Date header): ask its operator to fix it (NTP)"
            )
        if token_iat is not None and _agree(exchange_date, token_iat):
            return _laptop_off(laptop_now - token_iat)
        return f"this laptop's clock is {_relation(laptop_now - exchange_date)} the exchange's"
    if exchange_date is None and token_iat is not None and not _agree(laptop_now, token_iat):
        return _laptop_off(laptop_now - token_iat)
    return None


def _laptop_off(seconds: float) -> str:
    return (
        f"this laptop's clock is {_relation(seconds)} Endorse's (the fresh token's iat): "
        "set it right (enable NTP)"
    )
