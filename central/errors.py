"""The laptop CLI's errors: one root, each kind with a reason enum.

Errors carry facts (what failed, which file, which status); the words a user reads and the
exit code are chosen in one place, :mod:`endorse_ble.central.failures`. This module imports nothing
but the standard library, so the cached ``credential-process`` path can afford it.
"""

from __future__ import annotations

import enum

from endorse_ble.tokenlink.errors import EndorseBleError


class CentralError(EndorseBleError):
    """Base class of every error the laptop CLI raises on purpose."""


class ReadFailure(enum.Enum):
    """Why the token could not be read, each mapped to advice in the CLI."""

    BLUETOOTH_UNAVAILABLE = "bluetooth-unavailable"
    NOT_FOUND = "not-found"
    CONNECT_FAILED = "connect-failed"
    PAIRING_NEEDED = "pairing-needed"
    LINK_LOST = "link-lost"
    PROFILE = "profile"
    TORN = "torn"
    NO_TOKEN = "no-token"
    CHALLENGE_FAILED = "challenge-failed"
    BUDGET = "budget"  # the gateway refused: this laptop's (or everyone's) budget is spent
    TIMEOUT = "timeout"
    DEADLINE = "deadline"  # the whole gateway session overran --gateway-timeout
    NO_PAIRING_API = "no-pairing-api"  # the platform cannot pair from a program (macOS)
    PAIRING_REFUSED = "pairing-refused"  # the gateway has no pairing window open


class BleReadError(CentralError):
    """Reading the token over BLE failed; ``reason`` says how."""

    def __init__(self, reason: ReadFailure, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class ExchangeFailure(enum.Enum):
    """Why the exchange did not give us credentials."""

    UNREACHABLE = "unreachable"  # DNS, refused, network down
    TIMEOUT = "timeout"
    TLS = "tls"
    BAD_REQUEST = "bad-request"  # 400/413: malformed or oversized token or request
    TOKEN_REJECTED = "token-rejected"  # 401: signature, expiry, claims
    FORBIDDEN = "forbidden"  # 403: policy (IMSI/IMEI allowlist, nonce)
    REPLAYED = "replayed"  # 409: the token was already exchanged
    RATE_LIMITED = "rate-limited"  # 429
    UNAVAILABLE = "unavailable"  # 5xx: the exchange or its dependencies
    BAD_RESPONSE = "bad-response"  # not the documented shape, too large, not JSON


class ExchangeClientError(CentralError):
    """The exchange call failed. ``code`` is the exchange's ``error`` field when it sent one.

    ``detail`` is already sanitised (printable, bounded) and never holds a secret.
    """

    def __init__(
        self,
        reason: ExchangeFailure,
        detail: str,
        *,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        self.reason = reason
        self.detail = detail
        self.status = status
        self.code = code
        #: Which clock is off, when that explains the refusal (central.clock_skew).
        self.clock_advice: str | None = None
        super().__init__(f"{reason.value}: {detail}")


class ConfigError(CentralError):
    """The user configuration is invalid: ``path`` and ``key`` name the culprit."""

    def __init__(self, path: str, key: str, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        super().__init__(f"{path}: {key}: {problem}")


class UsageError(CentralError):
    """The command line asks for something impossible (a missing or conflicting option)."""


class InputFailure(enum.Enum):
    """Why a token given on the command line could not be used."""

    UNREADABLE = "unreadable"
    MALFORMED = "malformed"
    EXPIRED = "expired"
    BAD_SIGNATURE = "bad-signature"
    KEYSTORE = "keystore"


class TokenInputError(CentralError):
    """A token given to ``inspect`` (or its verification) failed; ``reason`` says how."""

    def __init__(self, reason: InputFailure, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class CredentialsFileError(CentralError):
    """Writing the AWS shared credentials file (or a cache file) failed."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class KeyFailure(enum.Enum):
    """Why the laptop key could not be used."""

    NOT_ENROLLED = "not-enrolled"
    EXPOSED = "exposed"  # a key file others can read, or not a plain file of ours
    CORRUPT = "corrupt"
    STORAGE = "storage"  # the keyring or the file system failed


class LaptopKeyError(CentralError):
    """The laptop key (``enroll``) is missing, exposed or unreadable; never holds the key."""

    def __init__(self, reason: KeyFailure, message: str) -> None:
        self.reason = reason
        super().__init__(message)
