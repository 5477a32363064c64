"""A hostile body is read within a size bound and a TOTAL deadline, on byte literals."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.tokenlink.bounded_read import BoundedReadError, ReadRefusal, read_bounded


class FakeClock:
    """A monotonic clock that moves only when told (each chunk costs ``step`` seconds)."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 100.0
        self.step = step

    def __call__(self) -> float:
        return self.now

    def chunks(self, parts: list[bytes]) -> Iterator[bytes]:
        for part in parts:
            self.now += self.step
            yield part


def endless(chunk: bytes, pulled: list[int]) -> Iterator[bytes]:
    """An infinite body that counts how many chunks were pulled from it."""
    for n in itertools.count(1):
        pulled.append(n)
        yield chunk


def test_stops_pulling_as_soon_as_the_limit_is_crossed() -> None:
    """An endless body is refused after limit/chunk + 1 chunks, never buffered whole."""
    pulled: list[int] = []
    with pytest.raises(BoundedReadError) as caught:
        read_bounded(endless(b"A" * 1000, pulled), 65536, timeout_seconds=10)
    assert caught.value.reason is ReadRefusal.TOO_LARGE
    assert len(pulled) == 66


def test_accepts_a_body_of_exactly_the_limit() -> None:
    """limit bytes are fine; limit + 1 are not."""
    assert read_bounded([b"ab", b"cd"], 4, timeout_seconds=1) == b"abcd"
    with pytest.raises(BoundedReadError) as caught:
        read_bounded([b"ab", b"cde"], 4, timeout_seconds=1)
    assert caught.value.reason is ReadRefusal.TOO_LARGE
    assert "4-byte" in str(caught.value)


def test_the_deadline_is_total_not_per_chunk() -> None:
    """Each chunk comes well within any per-read timeout, but together they are too slow."""
    clock = FakeClock(step=0.25)
    with pytest.raises(BoundedReadError) as caught:
        read_bounded(clock.chunks([b"a"] * 10), 100, timeout_seconds=1.0, monotonic=clock)
    assert caught.value.reason is ReadRefusal.TOO_SLOW
    # Refused at the first chunk past the deadline (the 5th, at +1.25 s), not at the end.
    assert clock.now == 101.25


def test_a_body_just_within_the_deadline_is_read() -> None:
    clock = FakeClock(step=0.5)
    body = read_bounded(
        clock.chunks([b"ab", b"c", b"", b"d"]), 4, timeout_seconds=2.0, monotonic=clock
    )
    assert body == b"abcd"


def test_an_empty_body_is_empty() -> None:
    assert read_bounded(iter(()), 0, timeout_seconds=0.1) == b""


@given(
    st.lists(st.binary(max_size=64), max_size=20),
    st.integers(min_value=0, max_value=400),
)
def test_returns_the_body_or_refuses_it_by_size(parts: list[bytes], limit: int) -> None:
    """Without delay, the answer depends only on the total size against the limit."""
    body = b"".join(parts)
    if len(body) <= limit:
        assert read_bounded(parts, limit, timeout_seconds=1, monotonic=FakeClock()) == body
    else:
        with pytest.raises(BoundedReadError) as caught:
            read_bounded(parts, limit, timeout_seconds=1, monotonic=FakeClock())
        assert caught.value.reason is ReadRefusal.TOO_LARGE
