"""What the GATT server serves, derived from the token store and the modem (pure).

Rules from docs/protocol.md: the newest servable token is served, whether it answers a
challenge or not; Info carries the token and challenge states; Status is bounded JSON
for humans and never contains the token.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from endorse_ble.peripheral.ports import ModemHealth, ModemIdentity
from endorse_ble.peripheral.store_state import ChallengeState, StoreSnapshot, StoreState
from endorse_ble.tokenlink import profile
from endorse_ble.tokenlink.token import Token

_TOKEN_STATE = {
    StoreState.EMPTY: profile.TokenState.EMPTY,
    StoreState.FETCHING: profile.TokenState.FETCHING,
    StoreState.READY: profile.TokenState.READY,
    StoreState.FAILED: profile.TokenState.FAILED,
}
_CHALLENGE_STATE = {
    ChallengeState.IDLE: profile.ChallengeState.IDLE,
    ChallengeState.FETCHING: profile.ChallengeState.FETCHING,
    ChallengeState.READY: profile.ChallengeState.READY,
    ChallengeState.FAILED: profile.ChallengeState.FAILED,
}


@dataclass(frozen=True)
class ChallengeWrite:
    """A write to Challenge or Bonded Challenge, as BlueZ delivered it."""

    #: The validated nonce, or None for an empty write ("a token, please").
    nonce: str | None
    #: BlueZ's object path of the writing device (its ``device`` option), "" if absent.
    central: str = ""
    #: Delivered through Bonded Challenge, which BlueZ accepts only over an encrypted link.
    bonded: bool = False


class ChallengeRefused(Exception):
    """The daemon refuses a challenge write; the GATT server answers with ``att_error``."""

    def __init__(self, att_error: int, detail: str) -> None:
        self.att_error = att_error
        self.detail = detail
        super().__init__(detail)


class GattEvents(Protocol):
    """What the GATT server tells the daemon. Both run in D-Bus method handlers: they must
    not block."""

    def on_challenge(self, write: ChallengeWrite) -> None:
        """A central wrote a Challenge characteristic; raise ChallengeRefused to refuse."""

    def on_page_read(self, central: str, index: int, final: bool) -> None:
        """``central`` read page ``index``; ``final``: that read reached the page's end."""


@dataclass(frozen=True)
class RefusalNote:
    """A refused challenge as Status shows it (docs/protocol.md, "Status")."""

    tag: int
    why: str
    #: Monotonic time at which the refused central may try again.
    retry_at: float


@dataclass(frozen=True)
class GattSnapshot:
    """Everything the GATT server answers reads from; replaced whole, never mutated."""

    served: profile.ServedToken
    status: bytes


#: Room left in the 512-byte status record for the error text.
MAX_ERROR_CHARS = 160


@dataclass(frozen=True)
class ServedChoice:
    """The token chosen for the pages, and the nonce it answers (if any)."""

    token: Token
    generation: int
    nonce: str | None


def choose_token(store: StoreSnapshot, now: float, leeway: float) -> ServedChoice | None:
    """The newest servable token of the ordinary and the challenge token."""
    candidates: list[ServedChoice] = []
    if store.token is not None and not store.token.is_expired(now, leeway):
        candidates.append(ServedChoice(store.token, store.generation, None))
    answered = store.answered
    if answered is not None and not answered.token.is_expired(now, leeway):
        candidates.append(ServedChoice(answered.token, answered.generation, answered.nonce))
    return max(candidates, key=lambda c: c.generation, default=None)


def token_matches_modem(token: Token, identity: ModemIdentity | None) -> bool | None:
    """Whether the token names the modem's SIM and device; None when the modem cannot tell.

    Only this verdict goes over the air: the IMSI, IMEI and ICCID stay on the gateway.
    """
    if identity is None:
        return None
    pairs = [(token.claim.imsi, identity.imsi), (token.claim.imei, identity.imei)]
    known = [(claimed, actual) for claimed, actual in pairs if claimed and actual]
    if not known:
        return None
    return all(claimed == actual for claimed, actual in known)


#: Refusals Status lists at most (newest first): enough for a few centrals at once.
MAX_REFUSALS_SHOWN = 3


def status_record(
    name: str,
    store: StoreSnapshot,
    choice: ServedChoice | None,
    modem: ModemHealth | None,
    identity: ModemIdentity | None = None,
    refusals: Sequence[RefusalNote] = (),
    now_monotonic: float = 0.0,
) -> dict[str, object]:
    """The Status characteristic's JSON object (docs/protocol.md, "Status")."""
    token: dict[str, object] = {"state": store.state.value, "fetches": store.fetch_count}
    if choice is not None:
        token.update(
            exp=choice.token.expires_at,
            iat=choice.token.issued_at,
            len=choice.token.size,
            sha=choice.token.fingerprint,
        )
    error = store.last_error or store.challenge.last_error
    if (
        error is None
        and modem is not None
        and modem.detail
        and not modem.registration.is_registered
    ):
        error = modem.detail
    return {
        "v": profile.PROFILE_VERSION,
        "gw": name[:32],
        "token": token,
        "challenge": {
            "state": store.challenge.state.value,
            "tag": profile.nonce_tag(store.challenge.nonce),
        },
        "modem": None
        if modem is None
        else {
            "reg": modem.registration.value,
            "dbm": modem.signal_dbm,
            "op": (modem.operator or "")[:32] or None,
            "match": None if choice is None else token_matches_modem(choice.token, identity),
        },
        "error": None if error is None else error[:MAX_ERROR_CHARS],
        "refused": [
            {"tag": r.tag, "why": r.why, "next_in": max(0, round(r.retry_at - now_monotonic))}
            for r in refusals[:MAX_REFUSALS_SHOWN]
        ],
    }


def gatt_snapshot(
    name: str,
    store: StoreSnapshot,
    modem: ModemHealth | None,
    now: float,
    leeway: float,
    identity: ModemIdentity | None = None,
    refusals: Sequence[RefusalNote] = (),
    now_monotonic: float = 0.0,
) -> GattSnapshot:
    """Everything the GATT server answers reads from, for this moment."""
    choice = choose_token(store, now, leeway)
    challenge_state = _CHALLENGE_STATE[store.challenge.state]
    if choice is None:
        # A state of READY with nothing servable would make centrals read empty pages.
        state = _TOKEN_STATE[store.state]
        if state is profile.TokenState.READY:
            state = profile.TokenState.FETCHING if store.refreshing else profile.TokenState.EMPTY
        served = profile.ServedToken(
            profile.empty_info(state, challenge_state, store.generation), ()
        )
    else:
        served = profile.serve_token(
            choice.token.raw,
            expires_at=choice.token.expires_at,
            generation=choice.generation,
            nonce=choice.nonce,
            token_state=profile.TokenState.READY,
            challenge_state=challenge_state,
        )
    record = status_record(name, store, choice, modem, identity, refusals, now_monotonic)
    status = _encode_fitting(record)
    return GattSnapshot(served=served, status=status)


def _encode_fitting(record: dict[str, object]) -> bytes:
    """Encode Status, shortening the error text until the record fits one attribute.

    Every other field is bounded by construction; the error is free text (and JSON may
    escape it longer), so it is what gives way.
    """
    while True:
        try:
            return profile.encode_status(record)
        except profile.ProfileError:
            error = record.get("error")
            if not isinstance(error, str) or not error:
                raise
            excess = len(json.dumps(record, separators=(",", ":"))) - profile.MAX_STATUS_BYTES
            keep = len(error) - max(excess, 1) - 3
            record = {**record, "error": error[:keep] + "..." if keep > 0 else None}


def next_expiry(store: StoreSnapshot, now: float, leeway: float) -> float | None:
    """Wall-clock time at which the served token stops being servable (re-render then)."""
    choice = choose_token(store, now, leeway)
    return None if choice is None else choice.token.expires_at - leeway
