"""The token store's refresher loop and the snapshots it publishes.

A base class of :class:`~endorse_ble.peripheral.token_store.TokenStore`, kept apart so
that module holds the fetching and challenge logic. The loop sleeps until the next
renewal, retry or expiry (or until woken), publishes the snapshot, and in prefetch mode
starts a fetch when one is due.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from endorse_ble.peripheral.ports import Clock
from endorse_ble.peripheral.refresh_schedule import is_servable
from endorse_ble.peripheral.settings import RefreshSettings
from endorse_ble.peripheral.store_failures import FailureRecord
from endorse_ble.peripheral.store_state import (
    AnsweredChallenge,
    ChallengeSnapshot,
    ChallengeState,
    StoreSnapshot,
    StoreState,
)
from endorse_ble.peripheral.store_support import Subscribers, sleep_or_wake
from endorse_ble.tokenlink.token import Token

# Expiry is watched by sleeping until the token stops being servable; never sleep less than
# this, so float rounding near the boundary cannot spin the loop.
_EXPIRY_POLL_FLOOR_SECONDS = 0.01
# The wall clock can step (NTP, a modem-provided time) while the refresher sleeps on the
# monotonic clock; it looks again this often so an ended token is noticed promptly.
_WALL_CHECK_SECONDS = 60.0


class RefresherLoop:
    """The refresher and snapshot half of the token store (state lives in the store)."""

    _settings: RefreshSettings
    _clock: Clock
    _failure: FailureRecord
    _token: Token | None
    _generation: int
    _challenge: ChallengeSnapshot
    _answered: AnsweredChallenge | None
    _next_fetch: float | None
    _fetch_count: int
    _fetch_task: asyncio.Task[Token] | None
    _wake: asyncio.Event
    _subscribers: Subscribers

    def current(self) -> Token | None:
        raise NotImplementedError

    def _start_fetch(self) -> asyncio.Task[Token]:
        raise NotImplementedError

    # -- the refresher loop ------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            self._publish()  # picks up expiries that happened while asleep
            if self._settings.mode == "prefetch" and self._fetch_task is None and self._fetch_due():
                self._start_fetch()
            await sleep_or_wake(self._wake, self._clock, self._next_wake_delay())

    def _fetch_due(self) -> bool:
        due = self._next_fetch
        if due is None or self._clock.monotonic() >= due:
            return True
        # A forward wall-clock step can end a token before its renewal is due; unless a
        # failure is being backed off from, prefetch means holding a servable token now.
        return self._failure.reason is None and self.current() is None

    def _next_wake_delay(self) -> float | None:
        delays: list[float] = []
        if self._settings.mode == "prefetch" and self._fetch_task is None:
            due = self._next_fetch
            delays.append(0.0 if due is None else due - self._clock.monotonic())
        now_wall = self._clock.wall()
        leeway = self._settings.expiry_leeway_seconds
        answered = self._answered.token if self._answered is not None else None
        for token in (self.current(), self._challenge.token, answered):
            if token is not None and self._servable(token):
                until = token.expires_at - leeway - now_wall
                # Re-read the wall clock now and then: a step forward may end it sooner.
                delays.append(min(max(until, _EXPIRY_POLL_FLOOR_SECONDS), _WALL_CHECK_SECONDS))
        return max(0.0, min(delays)) if delays else None

    # -- snapshots ---------------------------------------------------------------------

    def _servable(self, token: Token) -> bool:
        return is_servable(
            token.expires_at, self._clock.wall(), self._settings.expiry_leeway_seconds
        )

    def _derive(self) -> StoreSnapshot:
        token = self.current()
        fetching = self._fetch_task is not None
        last_error = self._failure.detail
        if token is not None:
            state = StoreState.READY
        elif fetching:
            state = StoreState.FETCHING
        elif self._failure.reason is not None:
            state = StoreState.FAILED
        else:
            state = StoreState.EMPTY
            if self._token is not None:
                last_error = f"token {self._token.fingerprint} expired"
        challenge = self._challenge
        if challenge.token is not None and not self._servable(challenge.token):
            challenge = replace(challenge, state=ChallengeState.IDLE, token=None)
        answered = self._answered
        if answered is not None and not self._servable(answered.token):
            answered = None
        return StoreSnapshot(
            mode=self._settings.mode,
            state=state,
            token=token,
            generation=self._generation,
            refreshing=fetching,
            last_error=last_error,
            error_reason=self._failure.reason,
            challenge=challenge,
            answered=answered,
            next_refresh_due=self._next_fetch,
            fetch_count=self._fetch_count,
        )

    def _publish(self) -> None:
        self._subscribers.publish(self._derive())
