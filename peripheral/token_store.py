"""The gateway's token store: holds a servable Endorse token and keeps it fresh.

Two modes (``RefreshSettings.mode``): *prefetch* keeps a fresh token at all times (fetch
at start, renew at the scheduled point, retry with capped exponential backoff and jitter);
*on-demand* fetches only when a central asks (``await get()``), to save cellular data,
and caches the token while it is servable. Every fetch looks at the modem's latest reading
first and waits while it reports no network registration (3GPP TS 27.007 +CREG).
Concurrent requests share one fetch. The blocking source call runs in a worker thread,
abandoned at its deadline. After a failure the next attempt follows the backoff, a
server's Retry-After, or the fast retry of free failures while nothing is served
(:func:`~endorse_ble.peripheral.refresh_schedule.retry_delay`); :meth:`network_changed`
cuts the wait short. Scheduling uses the monotonic clock; only ``exp`` is compared with
the wall clock.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable
from types import TracebackType

from endorse_ble.peripheral.guarded_fetch import GuardedFetch
from endorse_ble.peripheral.ports import Clock, NetworkView, TokenSource
from endorse_ble.peripheral.refresh_schedule import (
    JitterKind,
    renew_delay,
)
from endorse_ble.peripheral.settings import RefreshSettings
from endorse_ble.peripheral.step_watch import Progress
from endorse_ble.peripheral.store_failures import FailureRecord
from endorse_ble.peripheral.store_refresher import RefresherLoop
from endorse_ble.peripheral.store_state import (
    AnsweredChallenge,
    ChallengeSnapshot,
    ChallengeState,
    StoreError,
    StoreErrorReason,
    StoreSnapshot,
    validate_nonce,
)
from endorse_ble.peripheral.store_support import (
    Subscriber,
    Subscribers,
    consume_result,
    describe,
    report_refresher_end,
)
from endorse_ble.tokenlink.token import Token

logger = logging.getLogger(__name__)


class TokenStore(RefresherLoop):
    """Fetches, caches and renews Endorse tokens; publishes a :class:`StoreSnapshot`.

    Use as ``async with TokenStore(...) as store:`` (or ``await start()`` / ``await
    stop()``). All methods must be called on the event loop the store was started on.
    """

    def __init__(
        self,
        source: TokenSource,
        settings: RefreshSettings,
        clock: Clock,
        *,
        modem: NetworkView | None = None,
        rng: random.Random | None = None,
        jitter: JitterKind = "full",
        fetch_deadline_seconds: float = math.inf,
        progress: Progress | None = None,
        max_reading_age: float = math.inf,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._fetch_deadline = fetch_deadline_seconds
        self._progress = progress
        self._max_reading_age = max_reading_age
        self._guarded_fetch = self._guard(source, modem)
        # Jitter only spreads retries out; it protects nothing, so no CSPRNG is needed.
        self._failure = FailureRecord(settings, rng or random.Random(), jitter)  # noqa: S311
        self._token: Token | None = None
        self._generation = 0
        self._counter = 0  # one counter for ordinary and challenge tokens
        self._challenge = ChallengeSnapshot()
        # The newest token that answered a challenge: served until a newer token exists,
        # even while the next challenge is being fetched.
        self._answered: AnsweredChallenge | None = None
        self._next_fetch: float | None = None  # monotonic; None in prefetch means "now"
        self._fetch_count = 0
        self._received = (0.0, 0.0)  # wall and monotonic receipt time of self._token
        self._fetch_task: asyncio.Task[Token] | None = None
        self._challenge_task: asyncio.Task[Token] | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._subscribers = Subscribers()
        self._running = False

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start the refresher (in prefetch mode it fetches right away)."""
        if self._running:
            return
        self._running = True
        self._loop_task = asyncio.create_task(self._run(), name="token-store-refresher")
        self._loop_task.add_done_callback(report_refresher_end)
        self._publish()

    def _guard(self, source: TokenSource, network: NetworkView | None) -> GuardedFetch:
        return GuardedFetch(
            source,
            self._clock,
            network,
            self._settings.expiry_leeway_seconds,
            deadline_seconds=self._fetch_deadline,
            progress=self._progress,
            max_reading_age=self._max_reading_age,
        )

    def reconfigure(
        self,
        source: TokenSource,
        settings: RefreshSettings,
        modem: NetworkView | None = None,
        *,
        fetch_deadline_seconds: float | None = None,
        max_reading_age: float | None = None,
    ) -> None:
        """Fetch through ``source`` with ``settings`` from now on (a config reload).

        The token held stays served; its renewal is rescheduled under the new settings,
        and a fetch already in flight finishes with the old source.
        """
        self._settings = settings
        if fetch_deadline_seconds is not None:
            self._fetch_deadline = fetch_deadline_seconds
        if max_reading_age is not None:
            self._max_reading_age = max_reading_age
        self._guarded_fetch = self._guard(source, modem)
        self._failure.reconfigure(settings)
        self._schedule_renewal()
        self._wake.set()
        self._publish()

    async def stop(self) -> None:
        """Cancel the refresher and any fetch in flight; waiters get NOT_RUNNING."""
        self._running = False
        tasks = [t for t in (self._loop_task, self._fetch_task, self._challenge_task) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = None

    async def __aenter__(self) -> TokenStore:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- what the GATT layer calls -----------------------------------------------------

    def current(self) -> Token | None:
        """The ordinary token if it is servable now by the wall clock, else None."""
        token = self._token
        if token is None or not self._servable(token):
            return None
        return token

    async def get(self) -> Token:
        """A servable ordinary token, fetching one if none is held (one fetch for all).

        Raises :class:`StoreError` (NOT_RUNNING, NO_NETWORK, FETCH_FAILED,
        EXPIRED_ON_ARRIVAL, or BACKING_OFF while a retry after a failure is not yet due).
        """
        self._require_running()
        token = self.current()
        if token is not None:
            return token
        task = self._fetch_task
        if task is None:
            self._check_backoff()
            task = self._start_fetch()
        return await self._await_shared(task)

    def challenge_in_flight(self) -> str | None:
        """The nonce whose challenge is being fetched now, if any."""
        return self._challenge.nonce if self._challenge_task is not None else None

    async def request_challenge(self, nonce: str) -> Token:
        """Fetch a token whose signed claims carry ``nonce``; one fetch per nonce.

        The ordinary token and the last answered challenge keep being served meanwhile.
        Budgets are the caller's business (peripheral.challenge_desk: they depend on which
        central asked). Raises :class:`StoreError`: BAD_NONCE for a nonce that is not 8..64
        base64url characters, CHALLENGE_BUSY while another nonce is being fetched,
        NONCE_MISMATCH if the token does not carry it.
        """
        return await self.begin_challenge(nonce)

    def begin_challenge(self, nonce: str) -> Awaitable[Token]:
        """Start (or join) the challenge for ``nonce`` now, before returning; await the
        result. The checks of :meth:`request_challenge` are made here, synchronously, so a
        D-Bus handler can answer the write with them."""
        self._require_running()
        validate_nonce(nonce)
        task = self._challenge_task
        if task is not None:
            if self._challenge.nonce == nonce:
                return self._await_shared(task)
            raise StoreError(StoreErrorReason.CHALLENGE_BUSY, "another challenge is in flight")
        ready = self.challenge_token(nonce)
        if ready is not None:
            return _already(ready)
        self._challenge = ChallengeSnapshot(state=ChallengeState.FETCHING, nonce=nonce)
        task = asyncio.create_task(self._fetch_challenge(nonce), name="token-store-challenge")
        task.add_done_callback(consume_result)
        self._challenge_task = task
        self._publish()
        return self._await_shared(task)

    def challenge_token(self, nonce: str) -> Token | None:
        """The servable token answering ``nonce``, if a challenge produced one that is
        still the newest answer."""
        answered = self._answered
        if answered is None or answered.nonce != nonce or not self._servable(answered.token):
            return None
        return answered.token

    def snapshot(self) -> StoreSnapshot:
        """The store's state now (token servability judged by the wall clock now)."""
        return self._derive()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(snapshot)`` on the loop after each change; returns unsubscribe."""
        return self._subscribers.add(callback)

    # -- fetching ----------------------------------------------------------------------

    def _start_fetch(self) -> asyncio.Task[Token]:
        task = asyncio.create_task(self._fetch_ordinary(), name="token-store-fetch")
        task.add_done_callback(consume_result)
        self._fetch_task = task
        self._publish()
        return task

    async def _fetch_ordinary(self) -> Token:
        try:
            token, received_wall, received_mono = await self._fetch(None)
        except StoreError as exc:
            self._record_failure(exc)
            raise
        else:
            self._install(token, received_wall, received_mono)
            return token
        finally:
            self._fetch_task = None
            self._wake.set()
            self._publish()

    async def _fetch_challenge(self, nonce: str) -> Token:
        try:
            token, _, _ = await self._fetch(nonce)
        except StoreError as exc:
            logger.warning("challenge fetch failed (%s): %s", exc.reason.value, exc.detail)
            self._challenge = ChallengeSnapshot(
                state=ChallengeState.FAILED, nonce=nonce, last_error=exc.detail
            )
            raise
        except asyncio.CancelledError:
            self._challenge = ChallengeSnapshot()
            raise
        else:
            self._counter += 1
            self._challenge = ChallengeSnapshot(
                state=ChallengeState.READY, nonce=nonce, token=token, generation=self._counter
            )
            self._answered = AnsweredChallenge(nonce, token, self._counter)
            logger.info("challenge token received: %s", describe(token))
            return token
        finally:
            self._challenge_task = None
            self._wake.set()
            self._publish()

    async def _fetch(self, nonce: str | None) -> tuple[Token, float, float]:
        """One guarded source call (see peripheral.guarded_fetch), counted."""
        self._fetch_count += 1
        fetched = await self._guarded_fetch(nonce)
        return fetched.token, fetched.received_wall, fetched.received_mono

    def _install(self, token: Token, received_wall: float, received_mono: float) -> None:
        self._counter += 1
        self._generation = self._counter
        self._token = token
        self._received = (received_wall, received_mono)
        self._failure.clear()
        self._schedule_renewal()

    def _schedule_renewal(self) -> None:
        token = self._token
        if token is None:
            return
        received_wall, received_mono = self._received
        if self._settings.mode == "prefetch":
            delay = renew_delay(
                issued_at=token.issued_at,
                expires_at=token.expires_at,
                received_wall=received_wall,
                settings=self._settings,
            )
            self._next_fetch = received_mono + delay
            logger.info("token received: %s; renewing in %.0f s", describe(token), delay)
        else:
            self._next_fetch = None
            logger.info("token received: %s", describe(token))

    def _record_failure(self, exc: StoreError) -> None:
        delay = self._failure.record(exc, serving=self.current() is not None)
        self._next_fetch = self._clock.monotonic() + delay

    def network_changed(self) -> None:
        """The modem registered again or the cellular interface came back: a retry that is
        waiting out a backoff is due now."""
        if self._failure.reason is None or self._next_fetch is None:
            return
        if self._next_fetch > self._clock.monotonic():
            logger.info("network is back: retrying now instead of after the backoff")
            self._next_fetch = self._clock.monotonic()
            self._wake.set()

    def _check_backoff(self) -> None:
        if self._next_fetch is not None:
            error = self._failure.backing_off(self._next_fetch - self._clock.monotonic())
            if error is not None:
                raise error

    async def _await_shared(self, task: asyncio.Task[Token]) -> Token:
        # shield: a central that gives up must not cancel the fetch the others wait for.
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if task.cancelled() and me is not None and not me.cancelling():
                raise StoreError(StoreErrorReason.NOT_RUNNING, "the token store stopped") from None
            raise

    def _require_running(self) -> None:
        if not self._running:
            raise StoreError(StoreErrorReason.NOT_RUNNING, "the token store is not running")


async def _already(token: Token) -> Token:
    return token
