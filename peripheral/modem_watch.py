"""The modem watch: polls the modem as a bounded step and keeps its latest reading.

The token store never waits for the modem: it reads :meth:`ModemWatch.latest` (the
:class:`~endorse_ble.peripheral.ports.NetworkView` seam), which answers at once with the
last reading and when it was taken. A poll that overruns its deadline is abandoned and
reported as a ``stuck`` modem; the watch goes on polling (the modem adapters reopen
their port by themselves), and :class:`~endorse_ble.peripheral.step_watch.Progress` keeps
the abandoned thread counted as stuck until it returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from endorse_ble.peripheral.ports import (
    Clock,
    Modem,
    ModemHealth,
    ModemIdentity,
    ModemSnapshot,
    Registration,
)
from endorse_ble.peripheral.settings import ModemSettings
from endorse_ble.peripheral.status_line import describe_modem
from endorse_ble.peripheral.step_watch import Progress, StepOverrun, bounded

log = logging.getLogger(__name__)

#: Commands one poll may send at worst: reopening (echo off, IMEI, IMSI, up to four ICCID
#: commands) and the health commands (CSQ, three registrations, COPS).
POLL_COMMANDS = 12
#: Extra seconds for a poll beyond its commands' timeouts, and for closing a port.
POLL_SLACK_SECONDS = 5.0
CLOSE_DEADLINE_SECONDS = 3.0
#: While the modem is not registered (fetches wait for it), it is polled at least this
#: often, so a fetch follows soon after it registers.
UNREGISTERED_POLL_SECONDS = 5.0
NO_IDENTITY = ModemIdentity(None, None, None)


class ClosableModem(Modem, Protocol):
    def close(self) -> None: ...


def poll_deadline(settings: ModemSettings) -> float:
    """How long one poll (health and identity) may take before it is abandoned."""
    return POLL_COMMANDS * settings.command_timeout_seconds + POLL_SLACK_SECONDS


def reading_max_age(settings: ModemSettings) -> float:
    """A reading older than this says nothing about the link any more."""
    return 2 * settings.poll_interval_seconds + poll_deadline(settings)


class ModemWatch:
    """Polls ``modem`` every ``settings.poll_interval_seconds``; ``on_change`` hears of
    each new reading that differs from the last (with the previous one, or None)."""

    def __init__(
        self,
        modem: ClosableModem,
        settings: ModemSettings,
        clock: Clock,
        progress: Progress,
        on_change: Callable[[ModemSnapshot, ModemSnapshot | None], None],
    ) -> None:
        self.modem = modem
        self._settings = settings
        self._clock = clock
        self._progress = progress
        self._on_change = on_change
        self._latest: ModemSnapshot | None = None

    def latest(self) -> ModemSnapshot | None:
        return self._latest

    async def run(self) -> None:
        """Poll until cancelled (at once, unless :meth:`poll_once` already ran)."""
        deadline = poll_deadline(self._settings)
        try:
            latest = self._latest or await self.poll_once()
            while True:
                interval = self._settings.poll_interval_seconds
                if not latest.health.registration.is_registered:
                    interval = min(interval, UNREGISTERED_POLL_SECONDS)
                self._progress.beat("modem watch", interval + deadline + POLL_SLACK_SECONDS)
                await self._clock.sleep(interval)
                latest = await self.poll_once()
        finally:
            self._progress.forget("modem watch")

    async def poll_once(self) -> ModemSnapshot:
        """One bounded poll; the new reading (also kept as :meth:`latest`)."""
        deadline = poll_deadline(self._settings)
        try:
            health, identity = await bounded(
                self._read, seconds=deadline, step="modem poll", progress=self._progress
            )
        except StepOverrun as exc:
            health = ModemHealth(
                Registration.UNKNOWN, None, None, detail=f"modem {exc}", fault="stuck"
            )
            identity = NO_IDENTITY
        except Exception as exc:  # a broken adapter is a modem fault, never the watch's end
            health = ModemHealth(
                Registration.UNKNOWN, None, None, detail=f"{type(exc).__name__}: {exc}",
                fault="error",
            )  # fmt: skip
            identity = NO_IDENTITY
        snapshot = ModemSnapshot(health, identity, self._clock.monotonic())
        previous = self._latest
        self._latest = snapshot
        if previous is None or (previous.health, previous.identity) != (health, identity):
            log.info("modem: %s", describe_modem(health, identity))
            self._on_change(snapshot, previous)
        return snapshot

    def _read(self) -> tuple[ModemHealth, ModemIdentity]:
        health = self.modem.health()
        identity = self.modem.identity() if not health.fault else NO_IDENTITY
        return health, identity

    async def close(self) -> None:
        """Close the modem's port, giving up (not waiting) after a few seconds."""
        try:
            await bounded(
                self.modem.close,
                seconds=CLOSE_DEADLINE_SECONDS,
                step="modem close",
                progress=self._progress,
            )
        except StepOverrun as exc:
            log.warning("%s; leaving it behind", exc)


def registered_again(snapshot: ModemSnapshot, previous: ModemSnapshot | None) -> bool:
    """Whether the modem has just become registered after not being so."""
    if previous is None:
        return False
    return snapshot.health.registration.is_registered and not (
        previous.health.registration.is_registered
    )
