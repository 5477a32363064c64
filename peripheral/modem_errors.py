"""The gateway modem's typed errors: one class per layer, each with a reason enum.

:class:`AtParseError` is raised by the pure AT parser for a malformed line;
:class:`ModemError` by the serial adapter for a session that went wrong. Neither ever
reaches the daemon from :class:`~endorse_ble.peripheral.at_modem.AtModem`'s
``identity()``/``health()``,
which turn them into ``Registration.UNKNOWN`` with a detail saying why.
"""

from __future__ import annotations

import enum

from endorse_ble.peripheral.errors import PeripheralError


class ModemErrorReason(enum.Enum):
    """Why talking to the modem failed."""

    PORT_UNAVAILABLE = "port_unavailable"  # cannot open: missing, permissions, not a tty
    PORT_LOCKED = "port_locked"  # another process holds it (UUCP lock, flock, TIOCEXCL)
    PORT_LOST = "port_lost"  # the device vanished while open (USB unplug, modem reset)
    STUCK = "stuck"  # the modem stopped reading commands (a write did not finish in time)
    MANAGER_UNAVAILABLE = "manager_unavailable"  # ModemManager is not on the system bus
    NO_MODEM = "no_modem"  # ModemManager knows no such modem (or several, none chosen)
    SIM_MISSING = "sim_missing"  # the modem reports no SIM card
    TIMEOUT = "timeout"  # no final result code within the command timeout
    PPP_BUSY = "ppp_busy"  # the port speaks PPP (HDLC frames), not AT: pppd owns it
    GARBAGE = "garbage"  # unreadable bytes instead of an AT response
    OVERSIZED = "oversized"  # the response exceeded the size bound
    MALFORMED = "malformed"  # the answer was there but did not parse


class ModemError(PeripheralError):
    """Talking to the modem failed; ``reason`` says how, ``detail`` says what was seen."""

    def __init__(self, reason: ModemErrorReason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"modem {reason.value}: {detail}")


class AtParseReason(enum.Enum):
    """Why an AT response line could not be read."""

    MISSING = "missing"  # no line carried the expected answer
    FIELD_COUNT = "field_count"  # too few or too many comma-separated fields
    NOT_A_NUMBER = "not_a_number"  # a numeric field that is not a decimal integer
    OUT_OF_RANGE = "out_of_range"  # a number outside the range the spec allows
    BAD_FORMAT = "bad_format"  # e.g. an IMEI that is not 15 digits, a broken quote


class AtParseError(ModemError):
    """A modem answer is malformed; ``parse_reason`` says how."""

    def __init__(self, parse_reason: AtParseReason, detail: str) -> None:
        self.parse_reason = parse_reason
        super().__init__(ModemErrorReason.MALFORMED, f"{parse_reason.value}: {detail}")
