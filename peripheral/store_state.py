"""What the token store publishes: its states, immutable snapshots, and its typed errors.

The state values match the token and challenge states of the GATT info record
(docs/protocol.md, "Info"), so the GATT layer maps them one to one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from endorse_ble.peripheral.errors import PeripheralError
from endorse_ble.peripheral.settings import RefreshMode
from endorse_ble.tokenlink.nonce import NonceError, NonceProblem, check_nonce
from endorse_ble.tokenlink.redact import redact_tokens
from endorse_ble.tokenlink.text import one_line
from endorse_ble.tokenlink.token import Token

MAX_REASON_CHARS = 200


class StoreState(enum.Enum):
    """Whether the store has a token to serve (the info record's token state)."""

    EMPTY = "empty"  # nothing to serve, nothing failing (yet)
    FETCHING = "fetching"  # no servable token, a fetch is under way
    READY = "ready"  # a servable token is held
    FAILED = "failed"  # no servable token and the last attempt failed (see last_error)


class ChallengeState(enum.Enum):
    """Where the latest challenge stands (the info record's challenge state)."""

    IDLE = "idle"
    FETCHING = "fetching"
    READY = "ready"
    FAILED = "failed"


class StoreErrorReason(enum.Enum):
    """Why the store could not hand out a token."""

    NOT_RUNNING = "not_running"  # get()/request_challenge() before start() or after stop()
    NO_NETWORK = "no_network"  # the modem reports no network registration
    FETCH_FAILED = "fetch_failed"  # the token source raised
    EXPIRED_ON_ARRIVAL = "expired_on_arrival"  # the source returned an unservable token
    BACKING_OFF = "backing_off"  # a recent failure; the next attempt is not due yet
    BAD_NONCE = "bad_nonce"  # a challenge nonce outside the allowed length or alphabet
    NONCE_MISMATCH = "nonce_mismatch"  # the fetched token does not carry the nonce asked for
    CHALLENGE_BUSY = "challenge_busy"  # another nonce's challenge is still being fetched
    IDENTITY_MISMATCH = "identity_mismatch"  # the token names another SIM or device


class StoreError(PeripheralError):
    """The token store could not provide a token; ``reason`` says why.

    For a failed fetch, ``retry_after`` is the wait the server asked for (bounded) and
    ``costs_no_bytes`` says the failure spent nothing on the cellular link (refused, no
    route, interface down), so retrying it soon is cheap.
    """

    def __init__(
        self,
        reason: StoreErrorReason,
        detail: str,
        *,
        retry_after: float | None = None,
        costs_no_bytes: bool = False,
    ) -> None:
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after
        self.costs_no_bytes = costs_no_bytes
        super().__init__(f"token store ({reason.value}): {detail}")


def validate_nonce(nonce: str) -> str:
    """Return ``nonce`` if it follows the nonce rule (tokenlink.nonce), else BAD_NONCE.

    The error never echoes the nonce: it came from the air and may be anything.
    """
    if not isinstance(nonce, str):
        raise StoreError(StoreErrorReason.BAD_NONCE, str(NonceError(NonceProblem.NOT_TEXT, None)))
    try:
        return check_nonce(nonce)
    except NonceError as exc:
        raise StoreError(StoreErrorReason.BAD_NONCE, str(exc)) from None


def safe_reason(exc: BaseException) -> str:
    """A short, log- and status-safe description of ``exc``.

    Anything shaped like a JWT in the message is replaced by its length and hash prefix,
    so an error that quoted a response body cannot leak a token into logs or the status.
    """
    text = redact_tokens(str(exc))
    return one_line(
        f"{type(exc).__name__}: {text}" if text else type(exc).__name__, MAX_REASON_CHARS
    )


@dataclass(frozen=True)
class ChallengeSnapshot:
    """The latest challenge: its nonce, state, and the nonce-bound token once it is ready."""

    state: ChallengeState = ChallengeState.IDLE
    nonce: str | None = None
    token: Token | None = None
    generation: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class AnsweredChallenge:
    """The newest token that answered a challenge, and the nonce it answers."""

    nonce: str
    token: Token
    generation: int


@dataclass(frozen=True)
class StoreSnapshot:
    """One immutable view of the store, published after every change.

    ``token`` is the ordinary (nonce-free) token if it was servable when the snapshot was
    taken. ``generation`` is the generation of that token; it and the challenge's
    generation come from one counter that increases with every new token of either kind.
    ``next_refresh_due`` is on the monotonic clock. ``last_error`` never holds token
    material.
    """

    mode: RefreshMode
    state: StoreState = StoreState.EMPTY
    token: Token | None = None
    generation: int = 0
    refreshing: bool = False
    last_error: str | None = None
    error_reason: StoreErrorReason | None = None
    challenge: ChallengeSnapshot = field(default_factory=ChallengeSnapshot)
    #: Still served while a later challenge is fetched, until a newer token replaces it.
    answered: AnsweredChallenge | None = None
    next_refresh_due: float | None = None
    fetch_count: int = 0
