"""One fetch from the token source, guarded on both sides.

Before: the modem must not report "not registered" (3GPP TS 27.007 +CREG), or the fetch
would burn a timeout on a dead link. After: the token must be servable now and carry the
nonce asked for. Whatever the source raises is one failed fetch (a StoreError), never a
crash: the source is the outside world, HTTP over a flaky cellular link.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from endorse_ble.peripheral.ports import Clock, Modem, Registration, TokenSource
from endorse_ble.peripheral.refresh_schedule import is_servable
from endorse_ble.peripheral.store_state import StoreError, StoreErrorReason, safe_reason
from endorse_ble.tokenlink.token import Token

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fetched:
    """A token and when it arrived, on both clocks."""

    token: Token
    received_wall: float
    received_mono: float


@dataclass(frozen=True)
class GuardedFetch:
    """Fetches through ``source`` with the checks above; blocking calls run in a thread."""

    source: TokenSource
    clock: Clock
    modem: Modem | None
    leeway_seconds: float

    async def __call__(self, nonce: str | None) -> Fetched:
        await self._require_network()
        try:
            token = await asyncio.to_thread(self.source.fetch, nonce)
        except Exception as exc:
            raise StoreError(StoreErrorReason.FETCH_FAILED, safe_reason(exc)) from exc
        received_wall = self.clock.wall()
        received_mono = self.clock.monotonic()
        if not is_servable(token.expires_at, received_wall, self.leeway_seconds):
            raise StoreError(
                StoreErrorReason.EXPIRED_ON_ARRIVAL,
                f"token {token.fingerprint} has {token.seconds_left(received_wall):.0f} s "
                "left by the gateway's clock",
            )
        if nonce is not None and token.nonce != nonce:
            raise StoreError(
                StoreErrorReason.NONCE_MISMATCH,
                f"token {token.fingerprint} does not carry the requested nonce",
            )
        return Fetched(token, received_wall, received_mono)

    async def _require_network(self) -> None:
        if self.modem is None:
            return
        try:
            health = await asyncio.to_thread(self.modem.health)
        except Exception as exc:
            # A modem that cannot answer (AT port busy, unplugged) is no proof the link is
            # down; Endorse itself will tell. So this is logged and the fetch goes ahead.
            logger.warning("modem health unavailable, fetching anyway: %s", safe_reason(exc))
            return
        registration = health.registration
        if registration is Registration.UNKNOWN or registration.is_registered:
            return
        raise StoreError(
            StoreErrorReason.NO_NETWORK,
            f"waiting for network registration: {registration.value}",
        )
