"""The gateway's errors: one root, each kind with a reason enum for callers to act on.

Entry points map any :class:`PeripheralError` to a one-line message (its ``str``).
"""

from __future__ import annotations

import enum

from endorse_ble.tokenlink.errors import EndorseBleError


class PeripheralError(EndorseBleError):
    """Base class of the errors the gateway raises on purpose."""


class ConfigReason(enum.Enum):
    """Why a configuration file was refused."""

    MISSING_FILE = "missing_file"
    UNREADABLE = "unreadable"
    BAD_SYNTAX = "bad_syntax"
    UNKNOWN_KEY = "unknown_key"
    WRONG_TYPE = "wrong_type"
    BAD_VALUE = "bad_value"
    CONFLICT = "conflict"


class ConfigError(PeripheralError):
    """A configuration file is unusable.

    ``str(error)`` is one line: ``<file>: <dotted.key>: <what is expected>`` (the key is
    left out when the file as a whole is at fault, e.g. missing or not TOML).
    """

    def __init__(self, reason: ConfigReason, source: str, key: str | None, detail: str) -> None:
        self.reason = reason
        self.source = source
        self.key = key
        self.detail = detail
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {detail}")


class EndorseFetchReason(enum.Enum):
    """Why fetching a token from Endorse failed."""

    INTERFACE_MISSING = "interface_missing"  # the cellular interface does not exist
    INTERFACE_DOWN = "interface_down"  # it exists but is not administratively up
    BIND_FAILED = "bind_failed"  # the socket could not be tied to the interface/address
    CONNECT_TIMEOUT = "connect_timeout"
    CONNECT_FAILED = "connect_failed"  # reset before an answer, or another socket error
    CONNECTION_REFUSED = "connection_refused"  # nothing listening (or a firewall's RST)
    NO_ROUTE = "no_route"  # network or host unreachable
    DNS_FAILED = "dns_failed"  # Endorse's host name did not resolve
    TLS_CERTIFICATE = "tls_certificate"  # the server's certificate was refused
    CLOCK_BEHIND = "clock_behind"  # the certificate is not yet valid by our clock
    TLS_FAILED = "tls_failed"  # the TLS handshake failed otherwise
    READ_TIMEOUT = "read_timeout"  # no complete answer within the fetch's deadline
    REFUSED = "refused"  # 4xx: e.g. not over the SIM's own link, Endorse off for the group
    RATE_LIMITED = "rate_limited"  # 429: Endorse asks us to slow down
    SERVER_ERROR = "server_error"  # 5xx
    UNEXPECTED_STATUS = "unexpected_status"  # anything else but 200 (redirects included)
    BODY_TOO_LARGE = "body_too_large"
    NOT_JSON = "not_json"  # not a (complete) JSON object, or an encoding we do not accept
    NO_TOKEN = "no_token"
    BAD_TOKEN = "bad_token"
    NONCE_MISMATCH = "nonce_mismatch"  # asked for a nonce, the token does not carry it
    BAD_NONCE = "bad_nonce"  # the nonce asked for is empty or too long to send


class EndorseFetchError(PeripheralError):
    """Fetching a token failed; ``reason`` says how, ``status`` is the HTTP status if any.

    ``retry_after`` is the delay the server asked for (Retry-After), within bounds.
    """

    def __init__(
        self,
        reason: EndorseFetchReason,
        detail: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.reason = reason
        self.detail = detail
        self.status = status
        #: Seconds the server asked us to wait (Retry-After, already bounded), if any.
        self.retry_after = retry_after
        super().__init__(f"Endorse fetch failed ({reason.value}): {detail}")
