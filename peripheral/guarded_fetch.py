"""One fetch from the token source, guarded on both sides.

Before: the modem's latest reading must not say "not registered" (3GPP TS 27.007 +CREG),
or the fetch would burn a timeout on a dead link. The reading is the one the modem watch
took last: a fetch never waits for the modem, and a reading older than ``max_reading_age``
(a modem that stopped answering) proves nothing either way. After: the token must be
servable now, carry the nonce asked for, and name the SIM and device the modem reports
(IMSI, IMEI): a token for another SIM means the SIM was moved, and is refused.
Whatever the source raises is one failed fetch (a StoreError), never a crash: the source
is the outside world, HTTP over a flaky cellular link. The source call is a bounded step
(peripheral.step_watch): past ``deadline_seconds`` it is abandoned.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from endorse_ble.peripheral.errors import EndorseFetchError
from endorse_ble.peripheral.fetch_failure import ZERO_BYTE_REASONS
from endorse_ble.peripheral.ports import (
    Clock,
    ModemIdentity,
    NetworkView,
    Registration,
    TokenSource,
)
from endorse_ble.peripheral.refresh_schedule import is_servable
from endorse_ble.peripheral.step_watch import Progress, StepOverrun, bounded
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
    network: NetworkView | None
    leeway_seconds: float
    deadline_seconds: float = math.inf
    progress: Progress | None = None
    max_reading_age: float = math.inf

    async def __call__(self, nonce: str | None) -> Fetched:
        identity = self._require_network()
        try:
            token = await bounded(
                lambda: self.source.fetch(nonce),
                seconds=self.deadline_seconds,
                step="token fetch",
                progress=self.progress,
            )
        except StepOverrun as exc:
            raise StoreError(StoreErrorReason.FETCH_FAILED, str(exc)) from exc
        except EndorseFetchError as exc:
            raise StoreError(
                StoreErrorReason.FETCH_FAILED,
                safe_reason(exc),
                retry_after=exc.retry_after,
                costs_no_bytes=exc.reason in ZERO_BYTE_REASONS,
            ) from exc
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
        check_identity(token, identity)
        return Fetched(token, received_wall, received_mono)

    def _require_network(self) -> ModemIdentity | None:
        """Refuse to fetch while the latest fresh reading says unregistered."""
        reading = self.network.latest() if self.network is not None else None
        if reading is None:
            return None
        if self.clock.monotonic() - reading.taken_at > self.max_reading_age:
            # A modem that stopped answering is no proof the link is down: Endorse will tell.
            return None
        registration = reading.health.registration
        if registration is Registration.UNKNOWN or registration.is_registered:
            return reading.identity
        raise StoreError(
            StoreErrorReason.NO_NETWORK,
            f"waiting for network registration: {registration.value}",
        )


def check_identity(token: Token, identity: ModemIdentity | None) -> None:
    """Refuse a token naming another SIM (IMSI) or device (IMEI) than the modem reports.

    Only what both sides know is compared. The message shows the last four digits only.
    """
    if identity is None:
        return
    for what, claimed, actual in (
        ("IMSI", token.claim.imsi, identity.imsi),
        ("IMEI", token.claim.imei, identity.imei),
    ):
        if claimed and actual and claimed != actual:
            raise StoreError(
                StoreErrorReason.IDENTITY_MISMATCH,
                f"token {token.fingerprint} names {what} ...{claimed[-4:]} but the modem "
                f"reports ...{actual[-4:]}: was the SIM moved to another device?",
            )
