"""The systemctl STATUS= line, formatted from plain values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.peripheral.ports import ModemHealth, ModemIdentity, Registration
from endorse_ble.peripheral.sd_notify import STATUS_MAX_CHARS
from endorse_ble.peripheral.status_line import (
    describe_modem,
    format_duration,
    format_status_line,
    modem_fault,
)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0s"),
        (0.2, "1s"),
        (45, "45s"),
        (59.5, "1m00s"),
        (432, "7m12s"),
        (3599, "59m59s"),
        (3600, "1h00m"),
        (6000, "1h40m"),
        (86_400 * 2 + 3 * 3600 + 59, "2d03h"),
        (86_400 * 999 + 1, "999d00h"),
        (86_400 * 1000, ">999d"),
        (8.64e164, ">999d"),
    ],
)
def test_format_duration(seconds: float, expected: str) -> None:
    """Durations read as the two largest units, partial seconds rounded up."""
    assert format_duration(seconds) == expected


@pytest.mark.parametrize("seconds", [-1, math.nan, math.inf])
def test_format_duration_refuses_non_durations(seconds: float) -> None:
    """Negative and non-finite values are refused rather than printed as nonsense."""
    with pytest.raises(ValueError):
        format_duration(seconds)


def test_the_documented_example() -> None:
    """A healthy gateway reads as the example in the module docstring."""
    line = format_status_line(
        token_state="ready",
        expires_in=432.0,
        registration=Registration.HOME,
        signal_dbm=-71,
        last_error=None,
    )
    assert line == "token ready, expires in 7m12s; modem home -71 dBm; last error: none"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"token_state": "none", "expires_in": None, "registration": None, "signal_dbm": None},
            "token none; modem unknown; last error: none",
        ),
        (
            {
                "token_state": "ready",
                "expires_in": 0.0,
                "registration": Registration.ROAMING,
                "signal_dbm": -101,
            },
            "token ready, expired; modem roaming -101 dBm; last error: none",
        ),
        (
            {
                "token_state": "fetching",
                "expires_in": -30.0,
                "registration": Registration.NOT_REGISTERED,
                "signal_dbm": None,
            },
            "token fetching, expired; modem not-registered; last error: none",
        ),
        (
            {
                "token_state": "failed",
                "expires_in": math.nan,
                "registration": Registration.DENIED,
                "signal_dbm": -113,
            },
            "token failed; modem denied -113 dBm; last error: none",
        ),
        (
            {
                "token_state": "",
                "expires_in": math.inf,
                "registration": Registration.SEARCHING,
                "signal_dbm": None,
            },
            "token unknown; modem searching; last error: none",
        ),
    ],
)
def test_states(kwargs: dict[str, object], expected: str) -> None:
    """Missing values say unknown, a past expiry says expired, signal is optional."""
    assert format_status_line(last_error=None, **kwargs) == expected  # type: ignore[arg-type]


def test_a_long_error_keeps_its_hint() -> None:
    """A real error (a reason and what to do, past 100 characters) is shown whole."""
    error = (
        "cannot open /dev/ttyUSB2: [Errno 16] Device or resource busy: held by another "
        "program, usually ModemManager: tag the port ID_MM_PORT_IGNORE (see the guide)"
    )
    line = format_status_line(
        token_state="failed",
        expires_in=None,
        registration=None,
        signal_dbm=None,
        last_error=error,
    )
    assert line == f"token failed; modem unknown; last error: {error}"


def test_hostile_error_text_is_one_short_line() -> None:
    """A modem or server error with newlines and a long body becomes one bounded line."""
    error = "Endorse refused: HTTP 403\nREADY=1\n" + "<html>" * 1000
    line = format_status_line(
        token_state="failed",
        expires_in=None,
        registration=Registration.HOME,
        signal_dbm=-80,
        last_error=error,
    )
    assert line.startswith(
        "token failed; modem home -80 dBm; last error: Endorse refused: HTTP 403 READY=1 <html>"
    )
    assert "\n" not in line
    assert line.endswith("...")
    assert len(line) <= STATUS_MAX_CHARS


@given(
    token_state=st.text(max_size=50),
    expires_in=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    registration=st.none() | st.sampled_from(Registration),
    signal_dbm=st.none() | st.integers(min_value=-200, max_value=0),
    last_error=st.none() | st.text(max_size=500),
)
def test_always_one_bounded_line(
    token_state: str,
    expires_in: float | None,
    registration: Registration | None,
    signal_dbm: int | None,
    last_error: str | None,
) -> None:
    """Any combination of values yields one printable line within the STATUS bound."""
    line = format_status_line(
        token_state=token_state,
        expires_in=expires_in,
        registration=registration,
        signal_dbm=signal_dbm,
        last_error=last_error,
    )
    assert line.isprintable()
    assert len(line) <= STATUS_MAX_CHARS
    assert line.startswith("token ")
    assert "; modem " in line


@pytest.mark.parametrize(
    ("health", "expected"),
    [
        (ModemHealth(Registration.UNKNOWN, None, None), "unknown"),
        (ModemHealth(Registration.HOME, -71, "SORACOM"), "home, -71 dBm, SORACOM"),
        (
            ModemHealth(Registration.UNKNOWN, None, None, "modem stuck: x", "stuck"),
            "unknown (modem stuck: x)",
        ),
    ],
)
def test_modem_log_line_never_says_none(health: ModemHealth, expected: str) -> None:
    """Unknown values are left out of the modem's log line, never printed as None."""
    assert describe_modem(health) == expected


def test_status_carries_the_modem_fault_and_a_stuck_step() -> None:
    """A modem fault replaces the identity; a stuck step leads the line."""
    health = ModemHealth(Registration.UNKNOWN, None, None, "modem port_locked: EBUSY", "x")
    line = format_status_line(
        token_state="ready",
        expires_in=60.0,
        registration=health.registration,
        signal_dbm=None,
        last_error=None,
        modem_fault=modem_fault(health),
        identity=ModemIdentity("356938035643809", None, "8981100000123456789"),
        stuck="modem poll stuck (3 s past its deadline)",
    )
    assert line.startswith("STUCK: modem poll stuck")
    assert "modem unknown (modem port_locked: EBUSY)" in line
    assert "IMEI" not in line and "None" not in line


def test_the_line_stays_inside_systemds_limit() -> None:
    """systemd drops a STATUS= over STATUS_TEXT_MAX (16 KiB) whole: never send one, even
    from an error text of 4-byte characters."""
    line = format_status_line(
        token_state="failed",
        expires_in=None,
        registration=None,
        signal_dbm=None,
        last_error="\U0001d400" * 10_000,
    )
    assert len(f"STATUS={line}".encode()) < 16 * 1024


def test_a_modem_fault_keeps_its_hint() -> None:
    """port_locked's hint (set the modemmanager backend or tag the port) is shown whole."""
    fault = "/dev/ttyUSB2 is held exclusively (EBUSY). " + "x" * 220 + " with a udev rule"
    line = format_status_line(
        token_state="ready",
        expires_in=60.0,
        registration=None,
        signal_dbm=None,
        last_error=None,
        modem_fault=fault,
    )
    assert f"({fault})" in line
