"""The one-line STATUS= text a person reads in ``systemctl status endorse-peripheral``.

Pure: plain values in, a string out, e.g.
``token ready, expires in 7m12s; modem home -71 dBm; last error: none``.
Never put the token or any secret in it: the line is readable by every local user.
"""

from __future__ import annotations

import math

from endorse_ble.peripheral.ports import ModemHealth, ModemIdentity, Registration
from endorse_ble.peripheral.sd_notify import STATUS_MAX_CHARS
from endorse_ble.tokenlink.text import one_line

# Real error messages and modem faults, with their hints (ModemManager's is over 200
# characters), are shown whole; the bounds are for hostile texts. Together with the token
# and stuck parts they stay inside STATUS_MAX_CHARS.
ERROR_MAX_CHARS = 1024
#: A modem fault's text in the line.
MODEM_FAULT_MAX_CHARS = 512
_MAX_DAYS = 999


def format_duration(seconds: float) -> str:
    """A short countdown: ``45s``, ``7m12s``, ``1h40m``, ``2d03h``; ``>999d`` beyond.

    Partial seconds round up, so a token with 0.2 s left still reads ``1s`` rather than
    ``0s`` while it is valid; callers treat ``seconds <= 0`` as expired.
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a duration: {seconds!r}")
    total = math.ceil(seconds)
    days, rest = divmod(total, 86_400)
    if days > _MAX_DAYS:
        return f">{_MAX_DAYS}d"  # a bogus exp claim must not flood the line
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _token_part(state: str, expires_in: float | None, token_id: str | None) -> str:
    part = f"token {one_line(state, 20) or 'unknown'}"
    if token_id:
        # A hash prefix, never the token: matches what endorse-central prints.
        part += f" (sha256 {one_line(token_id, 12)})"
    if expires_in is None or math.isnan(expires_in):
        return part
    if expires_in <= 0:
        return f"{part}, expired"
    if math.isinf(expires_in):
        return part
    return f"{part}, expires in {format_duration(expires_in)}"


def _modem_part(
    registration: Registration | None,
    signal_dbm: int | None,
    fault: str | None = None,
    identity: ModemIdentity | None = None,
) -> str:
    part = f"modem {registration.value if registration is not None else 'unknown'}"
    if signal_dbm is not None:
        part += f" {signal_dbm} dBm"
    if fault:
        part += f" ({one_line(fault, MODEM_FAULT_MAX_CHARS)})"
    elif identity is not None and (identity.imei or identity.iccid):
        # Local eyes only (systemctl status): the BLE Status record never carries these.
        part += f" (IMEI {_or_unknown(identity.imei)}, ICCID {_or_unknown(identity.iccid)})"
    return part


def _or_unknown(value: str | None) -> str:
    return one_line(value, 22) if value else "unknown"


def describe_modem(health: ModemHealth, identity: ModemIdentity | None = None) -> str:
    """The modem in one log line, e.g. ``home, -71 dBm, SORACOM (IMEI ..., ICCID ...)``.

    Unknown values are left out rather than printed as None.
    """
    parts = [health.registration.value]
    if health.signal_dbm is not None:
        parts.append(f"{health.signal_dbm} dBm")
    if health.operator:
        parts.append(one_line(health.operator, 32))
    text = ", ".join(parts)
    if health.detail:
        text += f" ({one_line(health.detail, ERROR_MAX_CHARS)})"
    if identity is not None and (identity.imei or identity.iccid):
        text += f" (IMEI {_or_unknown(identity.imei)}, ICCID {_or_unknown(identity.iccid)})"
    return text


def modem_fault(health: ModemHealth | None) -> str | None:
    """What is wrong with the modem, for STATUS; None when nothing is."""
    if health is None:
        return None
    if health.fault or (health.registration is Registration.UNKNOWN and health.detail):
        return health.detail or health.fault
    return None


def format_status_line(
    *,
    token_state: str,
    expires_in: float | None,
    registration: Registration | None,
    signal_dbm: int | None,
    last_error: str | None,
    token_id: str | None = None,
    modem_fault: str | None = None,
    identity: ModemIdentity | None = None,
    stuck: str | None = None,
    pairing: str | None = None,
) -> str:
    """Format the daemon's state as one line of at most STATUS_MAX_CHARS characters.

    Args:
        token_state: a short word for the token store's state ("ready", "fetching",
            "failed", "none"); sanitised and cut to 20 characters.
        expires_in: seconds until the served token expires; None when there is none.
        registration: the modem's network registration; None when never read.
        signal_dbm: received signal strength in dBm; None when unknown.
        last_error: the most recent error message, already free of secrets; None for
            none. Modem and server texts are hostile: it is sanitised to one line and cut
            to ERROR_MAX_CHARS characters.
        token_id: the served token's short hash prefix (Token.fingerprint), if any.
        modem_fault: what is wrong with the modem (port locked, stuck...), if anything.
        identity: the modem's IMEI and the SIM's ICCID, shown when there is no fault.
        stuck: a step past its deadline (the watchdog is no longer pinged); leads the line.
        pairing: an open pairing window ("pairing open until 10:12:03 UTC"); leads the line
            (after a stuck step), as strangers may bond meanwhile.
    """
    error = one_line(last_error, ERROR_MAX_CHARS) if last_error else ""
    line = (
        f"{_token_part(token_state, expires_in, token_id)}; "
        f"{_modem_part(registration, signal_dbm, modem_fault, identity)}; "
        f"last error: {error or 'none'}"
    )
    if pairing:
        line = f"{one_line(pairing, 60)}; {line}"
    if stuck:
        line = f"STUCK: {one_line(stuck, 80)}; {line}"
    return one_line(line, STATUS_MAX_CHARS)
