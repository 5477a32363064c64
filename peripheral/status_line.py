"""The one-line STATUS= text a person reads in ``systemctl status endorse-peripheral``.

Pure: plain values in, a string out, e.g.
``token ready, expires in 7m12s; modem home -71 dBm; last error: none``.
Never put the token or any secret in it: the line is readable by every local user.
"""

from __future__ import annotations

import math

from endorse_ble.peripheral.ports import Registration
from endorse_ble.peripheral.sd_notify import STATUS_MAX_CHARS
from endorse_ble.tokenlink.text import one_line

# Leaves room for the token and modem parts inside STATUS_MAX_CHARS.
ERROR_MAX_CHARS = 100
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


def _modem_part(registration: Registration | None, signal_dbm: int | None) -> str:
    part = f"modem {registration.value if registration is not None else 'unknown'}"
    if signal_dbm is not None:
        part += f" {signal_dbm} dBm"
    return part


def format_status_line(
    *,
    token_state: str,
    expires_in: float | None,
    registration: Registration | None,
    signal_dbm: int | None,
    last_error: str | None,
    token_id: str | None = None,
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
    """
    error = one_line(last_error, ERROR_MAX_CHARS) if last_error else ""
    line = (
        f"{_token_part(token_state, expires_in, token_id)}; "
        f"{_modem_part(registration, signal_dbm)}; "
        f"last error: {error or 'none'}"
    )
    return one_line(line, STATUS_MAX_CHARS)
