"""Failures below HTTP sorted by cause (TLS before errno), and Retry-After within bounds."""

from __future__ import annotations

import errno
import socket
import ssl

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from endorse_ble.peripheral.errors import EndorseFetchReason
from endorse_ble.peripheral.fetch_failure import classify_os_failure, parse_retry_after

VIA = "interface 'ppp0'"


def wrapped(cause: BaseException) -> Exception:
    """``cause`` as an HTTP library hands it over: wrapped twice, the root in __cause__."""
    try:
        try:
            raise cause
        except BaseException as inner:
            raise OSError("connection aborted") from inner
    except OSError as outer:
        return RuntimeError(outer)


def cert_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    error.verify_code = code
    error.verify_message = message
    return error


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "tls_failed"),
        (cert_error(18, "self-signed certificate"), "tls_certificate"),
        (cert_error(9, "certificate is not yet valid"), "clock_behind"),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "dns_failed"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "connection_refused"),
        (OSError(errno.ENETUNREACH, "unreachable"), "no_route"),
        (PermissionError(errno.EPERM, "not permitted"), "bind_failed"),
        (OSError(errno.EADDRNOTAVAIL, "cannot assign"), "bind_failed"),
        (OSError(errno.ENODEV, "no such device"), "interface_missing"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "connect_failed"),
    ],
)
def test_classified_by_cause(cause: BaseException, reason: str) -> None:
    """Each root cause gets its own reason; an SSLError's errno 1 is never EPERM."""
    error = classify_os_failure(wrapped(cause), VIA, wall_now=0.0)
    assert error is not None
    assert error.reason is EndorseFetchReason(reason)
    if reason.startswith(("tls", "clock")):
        assert "CAP_NET_RAW" not in str(error)


def test_not_yet_valid_names_the_clock() -> None:
    """A certificate not yet valid says what time the gateway thinks it is."""
    error = classify_os_failure(cert_error(9, "certificate is not yet valid"), VIA, 0.0)
    assert error is not None
    assert "1970-01-01 00:00 UTC" in str(error) and "clock" in str(error)


def test_no_os_cause_is_none() -> None:
    assert classify_os_failure(RuntimeError("odd"), VIA) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("60", 60.0),
        ("0", 1.0),
        ("999999999999", 300.0),
        ("Thu, 01 Jan 1970 00:02:00 GMT", 120.0),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 1.0),
        (None, None),
        ("soon", None),
        ("-5", None),
        ("1e9", None),
        ("Thu, 01 Jan 1970 00:02:00", None),
    ],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    """Delta-seconds or an HTTP-date, within [1 s, the cap]; nonsense is ignored."""
    assert parse_retry_after(value, 0.0, 300.0) == seconds


@given(st.text(max_size=200))
@example("\u00b2")  # a digit to str.isdigit(), not to int()
@example("\u0663\u0660")  # Arabic-Indic "30": int() would take it
def test_retry_after_never_raises(value: str) -> None:
    """Any header value gives None or a delay within bounds."""
    delay = parse_retry_after(value, 1_700_000_000.0, 300.0)
    assert delay is None or 1.0 <= delay <= 300.0
