"""Why an Endorse fetch failed below HTTP: TLS, DNS, refused, no route, bind (pure).

Classifies the exception chain an HTTP library raised by its root causes, by *type first*:
an ``ssl.SSLError`` carries errno 1, which equals EPERM (field-facts.md), so looking at
errno first would blame a TLS failure on a missing capability. Only what is not TLS or DNS
is then sorted by its OSError errno.

Also here: which failures cost no cellular bytes (the refresher may retry them quickly
while it has nothing to serve), and ``Retry-After`` (RFC 9110 10.2.3) within bounds.
"""

from __future__ import annotations

import email.utils
import errno
import math
import socket
import ssl
import time
from collections.abc import Iterator

from endorse_ble.peripheral.errors import EndorseFetchError, EndorseFetchReason

# OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID (include/openssl/x509_vfy.h).
_X509_CERT_NOT_YET_VALID = 9

#: Failures that cost no bytes on the cellular link (nothing left the interface, or the
#: far end turned the connection away at once).
ZERO_BYTE_REASONS = frozenset(
    {
        EndorseFetchReason.INTERFACE_MISSING,
        EndorseFetchReason.INTERFACE_DOWN,
        EndorseFetchReason.CONNECTION_REFUSED,
        EndorseFetchReason.NO_ROUTE,
    }
)


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps (cause, context, ``.reason``, args), once each."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        current = todo.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        # urllib3's MaxRetryError keeps the cause in .reason; requests keeps it in args[0].
        todo.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        todo.extend(a for a in current.args if isinstance(a, BaseException))


def classify_os_failure(
    exc: BaseException, via: str, wall_now: float | None = None
) -> EndorseFetchError | None:
    """The failure at the root of ``exc`` (TLS, DNS, socket), or None if there is none."""
    chain = list(causes(exc))
    for cause in chain:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return _certificate_error(cause, wall_now)
    for cause in chain:
        if isinstance(cause, ssl.SSLError):
            return EndorseFetchError(
                EndorseFetchReason.TLS_FAILED,
                f"TLS with Endorse via {via} failed ({_ssl_reason(cause)})",
            )
        if isinstance(cause, socket.gaierror):
            return EndorseFetchError(
                EndorseFetchReason.DNS_FAILED,
                f"cannot resolve Endorse's host name ({cause.strerror or cause}); "
                "is the cellular link's DNS reachable?",
            )
    code = next((c.errno for c in chain if isinstance(c, OSError) and c.errno), None)
    return None if code is None else _errno_error(code, via)


def _certificate_error(
    cause: ssl.SSLCertVerificationError, wall_now: float | None
) -> EndorseFetchError:
    message = str(cause.verify_message or _ssl_reason(cause))
    if cause.verify_code == _X509_CERT_NOT_YET_VALID:
        now = time.time() if wall_now is None else wall_now
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now))
        return EndorseFetchError(
            EndorseFetchReason.CLOCK_BEHIND,
            f"Endorse's TLS certificate is not yet valid by this gateway's clock ({stamp}): "
            "is the clock set (NTP, RTC battery)?",
        )
    return EndorseFetchError(
        EndorseFetchReason.TLS_CERTIFICATE, f"Endorse's TLS certificate was refused: {message}"
    )


def _ssl_reason(cause: ssl.SSLError) -> str:
    # .reason is set only on errors raised by the ssl module itself.
    return str(getattr(cause, "reason", None) or type(cause).__name__)


def _errno_error(code: int, via: str) -> EndorseFetchError:
    name = errno.errorcode.get(code, str(code))
    if code in (errno.EPERM, errno.EACCES):
        return EndorseFetchError(
            EndorseFetchReason.BIND_FAILED,
            f"not permitted to bind to {via} (SO_BINDTODEVICE needs CAP_NET_RAW before Linux 5.7)",
        )
    if code == errno.ENODEV:
        return EndorseFetchError(
            EndorseFetchReason.INTERFACE_MISSING, f"{via} disappeared while connecting"
        )
    if code == errno.EADDRNOTAVAIL:
        return EndorseFetchError(
            EndorseFetchReason.BIND_FAILED, f"{via} is not an address of this host"
        )
    if code == errno.ECONNREFUSED:
        return EndorseFetchError(
            EndorseFetchReason.CONNECTION_REFUSED, f"Endorse refused the connection via {via}"
        )
    if code in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN):
        return EndorseFetchError(
            EndorseFetchReason.NO_ROUTE, f"no route to Endorse via {via} ({name})"
        )
    return EndorseFetchError(
        EndorseFetchReason.CONNECT_FAILED, f"connection to Endorse via {via} failed (errno {name})"
    )


#: Retry-After values are honoured within these bounds (seconds): a server cannot make
#: the gateway hammer it, nor silence it for days.
RETRY_AFTER_MIN_SECONDS = 1.0


def parse_retry_after(value: str | None, now_wall: float, cap: float) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or an HTTP-date), within [1, cap].

    None when absent or unreadable; a hostile value never raises.
    """
    if value is None:
        return None
    text = value.strip()[:64]
    seconds: float | None = None
    # RFC 9110 delta-seconds are ASCII digits; str.isdigit() also accepts "²" and other
    # digits that int() refuses.
    if text.isascii() and text.isdigit():
        seconds = float(int(text[:9]))
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now_wall
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, RETRY_AFTER_MIN_SECONDS), cap)
