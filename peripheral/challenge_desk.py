"""The gateway's answer to each challenge written over the air: accept, or refuse and why.

Runs inside the D-Bus write handler, so a refusal reaches the writing central as the
write's ATT error at once (docs/protocol.md, "Challenge"), and is listed in Status with
the nonce's tag and the wait. Rules, in order:

1. Writing the nonce whose fetch is in flight, or whose answer is served, joins it: free.
2. One fetch at a time: another nonce meanwhile is "busy".
3. A fresh answer is held for the central that asked until it has read the last page (or
   ``ANSWER_HOLD_SECONDS`` passed): without that, a busy central's next challenge would
   replace the answer while its owner reads it, and centrals would take turns spoiling
   each other's reads.
4. The writer's budget (peripheral.challenge_admission) must allow it.

A refusal never touches the challenge state or the served token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from endorse_ble.peripheral.challenge_admission import ChallengeAdmission, Refusal
from endorse_ble.peripheral.gatt_view import (
    MAX_REFUSALS_SHOWN,
    ChallengeRefused,
    ChallengeWrite,
    RefusalNote,
)
from endorse_ble.peripheral.ports import Clock
from endorse_ble.peripheral.settings import RefreshSettings
from endorse_ble.peripheral.store_state import StoreError, StoreSnapshot
from endorse_ble.peripheral.token_store import TokenStore
from endorse_ble.tokenlink import profile
from endorse_ble.tokenlink.token import Token

log = logging.getLogger(__name__)

#: A refusal stays in Status at least this long, so the refused central can read why.
REFUSAL_SHOWN_SECONDS = 10.0
#: Longest a fresh answer is kept from being replaced, waiting for its central to read it
#: (a 2 KiB token at MTU 23 is about 100 ATT round trips: a second or two on a real link).
ANSWER_HOLD_SECONDS = 5.0


@dataclass(frozen=True)
class _Hold:
    central: str
    nonce: str
    until: float  # monotonic


class ChallengeDesk:
    """Decides on challenge writes; ``spawn`` runs the accepted fetches."""

    def __init__(
        self,
        store: TokenStore,
        clock: Clock,
        settings: RefreshSettings,
        spawn: Callable[[Awaitable[Token], str], object],
        changed: Callable[[], None],
    ) -> None:
        self._store = store
        self._clock = clock
        self._admission = ChallengeAdmission(settings)
        self._spawn = spawn
        self._changed = changed
        # Newest first; each with the monotonic time until which Status shows it.
        self._refusals: list[tuple[RefusalNote, float]] = []
        self._asked_by: tuple[str, str] | None = None  # (nonce, central) of the last fetch
        self._hold: _Hold | None = None

    def reconfigure(self, settings: RefreshSettings) -> None:
        self._admission.reconfigure(settings)

    def refusals(self) -> list[RefusalNote]:
        """The refusals Status shows now (expired ones dropped)."""
        now = self._clock.monotonic()
        self._refusals = [(note, until) for note, until in self._refusals if until > now]
        return [note for note, _ in self._refusals]

    # --- events -------------------------------------------------------------------------

    def on_challenge(self, write: ChallengeWrite) -> None:
        nonce = write.nonce
        if nonce is None:
            return  # the daemon's business: a plain token request costs no budget
        in_flight = self._store.challenge_in_flight()
        if in_flight != nonce and self._store.challenge_token(nonce) is None:
            if in_flight is not None:
                self._refuse(nonce, Refusal.BUSY, 0.0, profile.ATT_CHALLENGE_BUSY)
            hold = self._current_hold()
            if hold is not None and hold.central != write.central:
                self._refuse(
                    nonce,
                    Refusal.BUSY,
                    hold.until - self._clock.monotonic(),
                    profile.ATT_CHALLENGE_BUSY,
                )
            admission = self._admission.admit(
                write.central, bonded=write.bonded, now=self._clock.monotonic()
            )
            if admission.refusal is not None:
                log.info(
                    "%s challenge from %s refused: %s",
                    "bonded" if write.bonded else "plain",
                    write.central or "?",
                    admission.refusal.value,
                )
                self._refuse(
                    nonce, admission.refusal, admission.retry_in, profile.ATT_CHALLENGE_REFUSED
                )
            self._asked_by = (nonce, write.central)
        try:
            work = self._store.begin_challenge(nonce)
        except StoreError as exc:  # not expected after the checks above; still an answer
            raise ChallengeRefused(profile.ATT_CHALLENGE_BUSY, str(exc)) from exc
        self._spawn(work, "challenge")

    def on_store(self, store: StoreSnapshot) -> None:
        """Start holding a fresh answer for the central that asked for it."""
        answered = store.answered
        asked = self._asked_by
        if answered is None or asked is None or answered.nonce != asked[0]:
            return
        self._asked_by = None
        until = self._clock.monotonic() + ANSWER_HOLD_SECONDS
        self._hold = _Hold(asked[1], answered.nonce, until)

    def on_page_read(self, central: str, index: int, final: bool) -> None:
        """The held answer's central read through its last page: others may go on."""
        hold = self._hold
        if hold is None or central != hold.central or not final:
            return
        answered = self._store.snapshot().answered
        if answered is None or answered.nonce != hold.nonce:
            self._hold = None  # a newer token replaced it anyway
            return
        pages = profile.page_count_for(len(profile.encode_token(answered.token.raw)[1]))
        if index == pages - 1:
            self._hold = None
            self._changed()  # busy centrals poll Info; nothing else to tell them

    # --- helpers ------------------------------------------------------------------------

    def _current_hold(self) -> _Hold | None:
        hold = self._hold
        if hold is not None and self._clock.monotonic() >= hold.until:
            self._hold = hold = None
        return hold

    def _refuse(self, nonce: str, why: Refusal, retry_in: float, att_error: int) -> None:
        """List the refusal in Status (tagged with the nonce) and raise it to the writer."""
        now = self._clock.monotonic()
        retry_in = max(0.0, retry_in)
        note = RefusalNote(profile.nonce_tag(nonce), why.value, now + retry_in)
        until = now + max(retry_in, REFUSAL_SHOWN_SECONDS)
        self._refusals = [(note, until), *self._refusals][:MAX_REFUSALS_SHOWN]
        self._changed()
        detail = f"challenge refused ({why.value}); the next is allowed in {retry_in:.0f} s"
        raise ChallengeRefused(att_error, detail)
