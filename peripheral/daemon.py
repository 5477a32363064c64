"""The gateway daemon's main loop: token store, modem watch and GATT server, wired together.

Everything blocking (HTTP to Endorse, AT commands) runs as a bounded step in a worker
thread (peripheral.step_watch), abandoned at its deadline; the event loop only moves
immutable snapshots around, so a read from a central is answered at once. The watchdog
is pinged only while no step is stuck past its deadline, and STATUS names a stuck step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from endorse_ble.peripheral.challenge_desk import ChallengeDesk
from endorse_ble.peripheral.endorse_client import fetch_deadline_seconds
from endorse_ble.peripheral.gatt_view import (
    ChallengeWrite,
    GattEvents,
    GattSnapshot,
    choose_token,
    gatt_snapshot,
    next_expiry,
)
from endorse_ble.peripheral.link_state import LinkState, link_state
from endorse_ble.peripheral.log_limit import RateLimitedLog
from endorse_ble.peripheral.modem_watch import (
    ClosableModem,
    ModemWatch,
    reading_max_age,
    registered_again,
)
from endorse_ble.peripheral.ports import Clock, ModemSnapshot, TokenSource
from endorse_ble.peripheral.settings import GatewayConfig
from endorse_ble.peripheral.status_line import format_status_line, modem_fault
from endorse_ble.peripheral.step_watch import Progress
from endorse_ble.peripheral.store_state import StoreError, StoreSnapshot, StoreState
from endorse_ble.peripheral.token_store import TokenStore

log = logging.getLogger(__name__)
#: Refusals a central in range can cause at will: logged once a minute per kind at most.
_refusals = RateLimitedLog(log)
#: How often the cellular interface's state is looked at (a sysfs read).
LINK_CHECK_SECONDS = 2.0
#: Extra time the daemon allows a fetch beyond the client's own deadline.
FETCH_SLACK_SECONDS = 5.0
#: Most time shutting down may spend on BlueZ.
GATT_STOP_SECONDS = 3.0


class GattPublisher(Protocol):
    """The GATT server as the daemon sees it (real: peripheral.gatt_server.TokenGattServer)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def publish(self, snapshot: GattSnapshot) -> None: ...


class ClosableTokenSource(TokenSource, Protocol):
    def close(self) -> None: ...


class GatewayParts(Protocol):
    """Builds the adapters for a configuration (real: the requests, pyserial, bless ones)."""

    def token_source(self, config: GatewayConfig) -> ClosableTokenSource: ...

    def modem(self, config: GatewayConfig) -> ClosableModem: ...

    def gatt(self, config: GatewayConfig, events: GattEvents) -> GattPublisher: ...


class Lifecycle(Protocol):
    """Service-manager notifications (real: peripheral.sd_notify.SdNotifier)."""

    def ready(self, status: str | None = None) -> object: ...

    def reloading(self) -> object: ...

    def status(self, text: str) -> object: ...

    def stopping(self) -> object: ...

    def watchdog(self) -> object: ...

    def watchdog_interval(self) -> float | None: ...


class GatewayDaemon:
    """Runs the gateway until ``stop`` is set."""

    def __init__(
        self, config: GatewayConfig, parts: GatewayParts, clock: Clock, lifecycle: Lifecycle
    ) -> None:
        self._config = config
        self._parts = parts
        self._clock = clock
        self._lifecycle = lifecycle
        self._progress = Progress()
        self._source = parts.token_source(config)
        self._watch = self._modem_watch(config)
        self._store = TokenStore(
            self._source,
            config.refresh,
            clock,
            modem=self,
            fetch_deadline_seconds=fetch_deadline_seconds(config.endorse) + FETCH_SLACK_SECONDS,
            progress=self._progress,
            max_reading_age=reading_max_age(config.modem),
        )
        self._desk = ChallengeDesk(
            self._store,
            clock,
            config.refresh,
            lambda work, what: self._spawn(self._quietly(work, what)),
            self._render,
        )
        self._gatt = parts.gatt(config, self)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._modem_task: asyncio.Task[None] | None = None
        self._expiry_timer: asyncio.TimerHandle | None = None
        self._last: GattSnapshot | None = None
        self._settled = asyncio.Event()
        #: The pairing window in STATUS (set by the entry point; None: no window open).
        self.pairing_status: Callable[[], str | None] = lambda: None

    async def run(self, stop: asyncio.Event) -> None:
        """Start everything, serve until ``stop`` is set, then shut down in order."""
        try:
            await self._gatt.start()
            # The first fetch looks at the modem's reading: take one before it starts.
            await self._watch.poll_once()
            async with self._store:
                unsubscribe = self._store.subscribe(self._render)
                self._modem_task = self._spawn(self._watch.run())
                self._spawn(self._ping_watchdog())
                self._spawn(self._watch_link())
                self._render(self._store.snapshot())
                if self._config.refresh.mode == "prefetch":
                    await self._first_outcome()
                status = self.status_line()
                log.info("ready: %s", status)
                self._lifecycle.ready(status)
                await stop.wait()
                log.info("stopping")
                self._lifecycle.stopping()
                unsubscribe()
                await self._cancel_tasks()
        finally:
            if self._expiry_timer is not None:
                self._expiry_timer.cancel()
            try:
                await asyncio.wait_for(self._gatt.stop(), GATT_STOP_SECONDS)
            except TimeoutError:
                log.warning("BlueZ did not answer within %.0f s; leaving it", GATT_STOP_SECONDS)
            self._source.close()
            await self._watch.close()

    async def reload(self, config: GatewayConfig) -> None:
        """Apply a new configuration (SIGHUP) while serving.

        The token held stays served. Endorse and modem settings take effect for the next
        fetch and poll; BLE settings (adapter, name, encryption) need the GATT application
        registered again, which drops connected centrals, so only a change there does that.
        """
        self._lifecycle.reloading()
        old, self._config = self._config, config
        logging.getLogger().setLevel(config.log_level)
        old_source, self._source = self._source, self._parts.token_source(config)
        old_watch, self._watch = self._watch, self._modem_watch(config)
        self._store.reconfigure(
            self._source,
            config.refresh,
            self,
            fetch_deadline_seconds=fetch_deadline_seconds(config.endorse) + FETCH_SLACK_SECONDS,
            max_reading_age=reading_max_age(config.modem),
        )
        self._desk.reconfigure(config.refresh)
        if self._modem_task is not None:
            self._modem_task.cancel()
        # A fetch or a poll still running in a worker thread keeps its old adapter.
        await old_watch.close()
        old_source.close()
        self._modem_task = self._spawn(self._watch.run())
        if config.ble != old.ble:
            log.info("BLE settings changed: registering the GATT application again")
            await self._gatt.stop()
            self._gatt = self._parts.gatt(config, self)
            self._last = None
            await self._gatt.start()
        self._render()
        status = self.status_line()
        log.info("configuration reloaded: %s", status)
        self._lifecycle.ready(status)

    # --- what centrals see ----------------------------------------------------------------

    async def _first_outcome(self) -> None:
        """Wait until the first fetch has succeeded or failed (READY means "serving")."""
        endorse = self._config.endorse
        bound = endorse.connect_timeout_seconds + 2 * endorse.read_timeout_seconds + 5
        try:
            await asyncio.wait_for(self._settled.wait(), bound)
        except TimeoutError:
            log.warning("no first token after %.0f s; serving without one", bound)

    def latest(self) -> ModemSnapshot | None:
        """The modem watch's latest reading (the store's NetworkView)."""
        return self._watch.latest()

    def _modem_watch(self, config: GatewayConfig) -> ModemWatch:
        modem = self._parts.modem(config)
        return ModemWatch(modem, config.modem, self._clock, self._progress, self._on_reading)

    def _on_reading(self, snapshot: ModemSnapshot, previous: ModemSnapshot | None) -> None:
        if registered_again(snapshot, previous):
            self._store.network_changed()
        self._render()

    def _render(self, store: StoreSnapshot | None = None) -> None:
        store = store or self._store.snapshot()
        self._desk.on_store(store)
        if store.state in (StoreState.READY, StoreState.FAILED):
            self._settled.set()
        now = self._clock.wall()
        leeway = self._config.refresh.expiry_leeway_seconds
        reading = self._watch.latest()
        health = None if reading is None else reading.health
        identity = None if reading is None else reading.identity
        snapshot = gatt_snapshot(
            self._config.ble.name,
            store,
            health,
            now,
            leeway,
            identity,
            self._desk.refusals(),
            self._clock.monotonic(),
        )
        if snapshot != self._last:
            self._last = snapshot
            self._gatt.publish(snapshot)
            self._lifecycle.status(self.status_line())
        # The served token stops being servable at exp - leeway even if nothing else
        # changes: render again then, so Info never advertises an expired token.
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
        expiry = next_expiry(store, now, leeway)
        if expiry is not None:
            loop = asyncio.get_running_loop()
            self._expiry_timer = loop.call_later(max(0.0, expiry - now) + 0.01, self._render)

    def status_line(self) -> str:
        """One line for humans (systemctl status, logs), about the token being served."""
        store = self._store.snapshot()
        now = self._clock.wall()
        served = choose_token(store, now, self._config.refresh.expiry_leeway_seconds)
        reading = self._watch.latest()
        health = None if reading is None else reading.health
        stuck = self._progress.stuck()
        return format_status_line(
            token_state=store.state.value,
            expires_in=None if served is None else served.token.seconds_left(now),
            registration=None if health is None else health.registration,
            signal_dbm=None if health is None else health.signal_dbm,
            last_error=store.last_error,
            token_id=None if served is None else served.token.fingerprint,
            modem_fault=modem_fault(health),
            identity=None if reading is None else reading.identity,
            stuck=stuck[0].describe() if stuck else None,
            pairing=self.pairing_status(),
        )

    def status_changed(self) -> None:
        """Something outside the store changed what STATUS says (the pairing window)."""
        self._lifecycle.status(self.status_line())

    def refresh_now(self) -> None:
        """Fetch a fresh token now (SIGUSR1): it replaces the served one when it arrives."""
        log.info("fetching a fresh token on request")
        nonce = secrets.token_urlsafe(16)
        request = self._store.request_challenge(nonce)
        self._spawn(self._quietly(request, "refresh"))

    # --- requests from the air --------------------------------------------------------------

    def on_challenge(self, write: ChallengeWrite) -> None:
        """GATT event (a D-Bus method handler: never blocks). A refusal is raised as
        ChallengeRefused, which the GATT server answers with its ATT error."""
        if write.nonce is None:
            self._spawn(self._quietly(self._store.get(), "token request"))
        else:
            self._desk.on_challenge(write)

    def on_page_read(self, central: str, index: int, final: bool) -> None:
        """GATT event: a central read a token page."""
        self._desk.on_page_read(central, index, final)

    async def _quietly(self, work: Awaitable[Any], what: str) -> None:
        try:
            await work
        except StoreError as exc:
            # The store publishes the failure in its snapshot; centrals read it from Status.
            # Anyone in range can ask again and again: the log hears of it once a minute.
            _refusals.log(logging.INFO, f"{what}-{exc.reason.value}", "%s failed: %s", what, exc)

    # --- the service manager and the modem ------------------------------------------------

    async def _ping_watchdog(self) -> None:
        # Pinged only while every step finishes within its deadline: a stuck fetch or
        # modem poll (or a stuck event loop) stops the pings, and systemd restarts the
        # daemon (WatchdogSec in the unit). STATUS names what is stuck meanwhile.
        interval = self._lifecycle.watchdog_interval()
        if interval is None:
            return
        was_stuck = False
        while True:
            stuck = self._progress.stuck()
            if not stuck:
                self._lifecycle.watchdog()
            elif not was_stuck:
                log.error("not pinging the watchdog: %s", stuck[0].describe())
            if stuck or was_stuck:
                self._lifecycle.status(self.status_line())
            was_stuck = bool(stuck)
            await self._clock.sleep(interval)

    async def _watch_link(self) -> None:
        """Cut a backoff short when the cellular interface comes (back) up."""
        was_up = True
        while True:
            interface = self._config.cellular.interface  # a reload may change it
            up = interface is None or link_state(interface) is LinkState.UP
            if up and not was_up:
                log.info("cellular interface %s is up", interface)
                self._store.network_changed()
            was_up = up
            await self._clock.sleep(LINK_CHECK_SECONDS)

    # --- tasks ----------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def _cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
