"""The in-memory replay guard: refuses a second use, forgets expired ids, stays bounded."""

from __future__ import annotations

import pytest

from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.exchange.replay import MemoryReplayGuard


class Clock:
    """A hand-driven wall clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def code_of(guard: MemoryReplayGuard, jti: str, expires_at: float) -> ErrorCode:
    """The code ``claim`` refuses with."""
    with pytest.raises(ExchangeError) as info:
        guard.claim(jti, expires_at)
    return info.value.code


def test_second_use_is_a_replay() -> None:
    """The same jti is refused while its token lives, and accepted once it has expired."""
    clock = Clock()
    guard = MemoryReplayGuard(10, clock)
    guard.claim("a", 1100)
    assert code_of(guard, "a", 1100) is ErrorCode.TOKEN_REPLAYED
    clock.now = 1100
    guard.claim("a", 1200)


def test_expired_ids_are_purged() -> None:
    """Expired ids leave the cache, so it does not grow without bound."""
    clock = Clock()
    guard = MemoryReplayGuard(1000, clock)
    for i in range(100):
        guard.claim(f"j{i}", 1000 + i + 1)
    clock.now = 1050
    guard.claim("late", 2000)
    assert len(guard) == 51


def test_full_cache_refuses_rather_than_forgets() -> None:
    """When full of live ids, a new token is refused (503) and old ids stay refused."""
    clock = Clock()
    guard = MemoryReplayGuard(3, clock)
    for jti in "abc":
        guard.claim(jti, 2000)
    assert code_of(guard, "d", 2000) is ErrorCode.REPLAY_STORE_FULL
    assert code_of(guard, "a", 2000) is ErrorCode.TOKEN_REPLAYED
    clock.now = 2000
    guard.claim("d", 3000)
