"""Every error the laptop CLI can meet, mapped to a one-line message and an exit code.

This is the only place that words errors for users: error classes carry facts (a reason
enum, a path, a status), the table here says what to do about them. Exit codes are
documented in ``endorse-central --help`` and docs/laptop-cli.md.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from endorse_ble.central.errors import (
    BleReadError,
    ConfigError,
    CredentialsFileError,
    ExchangeClientError,
    ExchangeFailure,
    InputFailure,
    LaptopKeyError,
    ReadFailure,
    TokenInputError,
    UsageError,
)
from endorse_ble.tokenlink.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from endorse_ble.tokenlink.errors import EndorseBleError, TokenFormatError

#: The gateway could not be found, reached or read (retrying may help).
EXIT_GATEWAY = 3
#: The exchange refused the token (retrying the same way will not help).
EXIT_REFUSED = 4
#: The exchange could not be reached or failed (retrying later may help).
EXIT_UNAVAILABLE = 5
#: Interrupted (Ctrl-C), as shells report SIGINT.
EXIT_INTERRUPTED = 130

#: (code, meaning) for --help and the docs.
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "success"),
    (EXIT_FAILURE, "failure (bad token input, file write failed, ...)"),
    (EXIT_USAGE, "usage or configuration error (bad flag, invalid config.toml)"),
    (EXIT_GATEWAY, "gateway not found, not reachable or without a token (retry may help)"),
    (EXIT_REFUSED, "the exchange refused the token (policy, signature, expiry, replay)"),
    (
        EXIT_UNAVAILABLE,
        "the exchange (or inspect --verify's keystore) is unreachable, timed out or "
        "failing (retry later)",
    ),
    (EXIT_INTERRUPTED, "interrupted"),
)


@dataclass(frozen=True)
class Failure:
    """What the user reads and what the shell gets."""

    message: str
    exit_code: int


_BLE: dict[ReadFailure, tuple[str, int]] = {
    ReadFailure.BLUETOOTH_UNAVAILABLE: (
        "Bluetooth is unavailable ({detail}): turn it on, check --adapter, and on Linux "
        "that bluetoothd runs",
        EXIT_GATEWAY,
    ),
    ReadFailure.NOT_FOUND: (
        "no gateway found ({detail}); `endorse-central scan` lists the gateways in range",
        EXIT_GATEWAY,
    ),
    ReadFailure.CONNECT_FAILED: (
        "could not connect to the gateway: move closer and retry ({detail})",
        EXIT_GATEWAY,
    ),
    ReadFailure.PAIRING_NEEDED: (
        "the gateway requires pairing: run again with --pair, or pair it in the system's "
        "Bluetooth settings",
        EXIT_GATEWAY,
    ),
    ReadFailure.LINK_LOST: ("the BLE link dropped: move closer and retry ({detail})", EXIT_GATEWAY),
    ReadFailure.PROFILE: ("the gateway's answer does not fit the profile: {detail}", EXIT_FAILURE),
    ReadFailure.TORN: ("the token kept changing while being read: retry", EXIT_GATEWAY),
    ReadFailure.NO_TOKEN: (
        "{detail}; `endorse-central status` shows the gateway's modem and last error",
        EXIT_GATEWAY,
    ),
    ReadFailure.CHALLENGE_FAILED: (
        "the gateway could not fetch a fresh token from Endorse ({detail}); "
        "`endorse-central status` shows its cellular link",
        EXIT_GATEWAY,
    ),
    ReadFailure.BUDGET: (
        "{detail}; a laptop paired with the gateway has a budget of its own",
        EXIT_GATEWAY,
    ),
    ReadFailure.TIMEOUT: (
        "{detail}: the gateway's cellular link may be slow; retry or raise --challenge-timeout",
        EXIT_GATEWAY,
    ),
    ReadFailure.DEADLINE: (
        "{detail}: move closer and retry, or raise --gateway-timeout",
        EXIT_GATEWAY,
    ),
    ReadFailure.PAIRING_REFUSED: (
        "the gateway refused pairing ({detail}): on the gateway, open a pairing window "
        "with `endorse-peripheral pair --open 120`, then retry within it",
        EXIT_GATEWAY,
    ),
    ReadFailure.NO_PAIRING_API: (
        "{detail}: pair the gateway in the system's Bluetooth settings, then run again "
        "without --pair",
        EXIT_GATEWAY,
    ),
}

_EXCHANGE: dict[ExchangeFailure, tuple[str, int]] = {
    ExchangeFailure.UNREACHABLE: (
        "cannot reach the exchange ({detail}): check the network and the exchange URL",
        EXIT_UNAVAILABLE,
    ),
    ExchangeFailure.TIMEOUT: (
        "the exchange did not answer in time ({detail}): retry, or raise --exchange-timeout",
        EXIT_UNAVAILABLE,
    ),
    ExchangeFailure.TLS: (
        "TLS with the exchange failed ({detail}): check the URL and the system's CA certificates",
        EXIT_UNAVAILABLE,
    ),
    ExchangeFailure.BAD_REQUEST: ("the exchange refused the request{why}", EXIT_REFUSED),
    ExchangeFailure.TOKEN_REJECTED: ("the exchange rejected the token{why}", EXIT_REFUSED),
    ExchangeFailure.FORBIDDEN: ("the exchange does not allow this SIM{why}", EXIT_REFUSED),
    ExchangeFailure.REPLAYED: (
        "the exchange has already seen this token: run again for a fresh one",
        EXIT_REFUSED,
    ),
    ExchangeFailure.RATE_LIMITED: (
        "the exchange is rate limiting requests{why}: wait a minute and retry",
        EXIT_UNAVAILABLE,
    ),
    ExchangeFailure.UNAVAILABLE: (
        "the exchange failed{why}: retry later, or ask its operator",
        EXIT_UNAVAILABLE,
    ),
    ExchangeFailure.BAD_RESPONSE: (
        "the exchange's answer was not understood ({detail}): is the URL an endorse-ble exchange?",
        EXIT_UNAVAILABLE,
    ),
}

#: Advice for the exchange's documented error codes (docs/exchange-api.md) that the user
#: can act on; other codes print the exchange's own message.
_CODE_ADVICE: dict[str, str] = {
    "token_expired": "the token expired before it reached the exchange: retry",
    "token_not_yet_valid": "the token is not valid yet: check the gateway's and the "
    "exchange's clocks",
    "token_too_old": "the token is older than the exchange accepts: retry for a fresh one",
    "bad_signature": "its signature does not verify: is the gateway using the real Endorse?",
    "unknown_kid": "its signing key is unknown to the exchange's keystore",
    "imsi_not_allowed": "ask the exchange's operator to allow this SIM's IMSI "
    "(`endorse-central inspect` shows it)",
    "imei_mismatch": "the SIM is in a device the exchange does not expect (IMEI differs)",
    "nonce_required": "the exchange wants a fresh, nonce-bound token: do not pass a saved token",
    "nonce_mismatch": "the token answers another request's nonce: retry",
    "key_binding_required": "the exchange requires an enrolled laptop key: run "
    "`endorse-central enroll` and send the admin the allowlist line it prints",
    "bad_proof": "the exchange did not accept this laptop's proof: check the laptop's clock "
    "and the exchange URL",
    "key_not_enrolled": "this laptop's key is not enrolled for this SIM: send the admin the "
    "line `endorse-central enroll --show` prints",
    "key_mismatch": "the token was fetched for another laptop key: retry",
}

#: Exchange codes whose whole message differs from their status's.
_CODE_MESSAGE: dict[str, str] = {
    "proof_replayed": "the exchange has already seen this laptop proof: run again",
}

_INPUT: dict[InputFailure, int] = {
    InputFailure.UNREADABLE: EXIT_FAILURE,
    InputFailure.MALFORMED: EXIT_FAILURE,
    InputFailure.EXPIRED: EXIT_FAILURE,
    InputFailure.BAD_SIGNATURE: EXIT_REFUSED,
    InputFailure.KEYSTORE: EXIT_UNAVAILABLE,
}


def _exchange_why(exc: ExchangeClientError) -> str:
    advice = exc.clock_advice or _CODE_ADVICE.get(exc.code or "")
    label = " ".join(str(p) for p in (exc.status, exc.code) if p)
    if advice:
        return f" ({label}): {advice}"
    return f" ({label}: {exc.detail})" if label else f" ({exc.detail})"


def explain(exc: BaseException) -> Failure:
    """The one-line message and exit code for ``exc``."""
    if isinstance(exc, KeyboardInterrupt):
        return Failure("interrupted", EXIT_INTERRUPTED)
    if isinstance(exc, BleReadError):
        template, code = _BLE[exc.reason]
        return Failure(template.format(detail=str(exc)), code)
    if isinstance(exc, ExchangeClientError):
        template, code = _EXCHANGE[exc.reason]
        if exc.code in _CODE_MESSAGE:
            template = _CODE_MESSAGE[exc.code]
        return Failure(template.format(detail=exc.detail, why=_exchange_why(exc)), code)
    if isinstance(exc, ConfigError):
        return Failure(f"config {exc.path}: {exc.key}: {exc.problem}", EXIT_USAGE)
    if isinstance(exc, UsageError):
        return Failure(str(exc), EXIT_USAGE)
    if isinstance(exc, TokenInputError):
        return Failure(str(exc), _INPUT[exc.reason])
    if isinstance(exc, TokenFormatError):
        return Failure(f"not an Endorse token: {exc}", EXIT_FAILURE)
    if isinstance(exc, LaptopKeyError):
        return Failure(f"laptop key: {exc}", EXIT_FAILURE)
    if isinstance(exc, CredentialsFileError):
        return Failure(f"cannot write {exc.path}: {exc.problem}", EXIT_FAILURE)
    if isinstance(exc, EndorseBleError):
        return Failure(str(exc), EXIT_FAILURE)
    raise TypeError(f"no message for {type(exc).__name__}") from exc


def report(exc: BaseException, prog: str = "endorse-central") -> int:
    """Print the one-line message for ``exc`` on stderr; return its exit code."""
    failure = explain(exc)
    print(f"{prog}: {failure.message}", file=sys.stderr)
    return failure.exit_code


def exit_code_table() -> str:
    """The exit codes as aligned text for --help epilogs."""
    return "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES)
