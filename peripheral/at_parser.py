"""Pure AT answer parsing (3GPP TS 27.007): one command's information text -> values.

Parsers for +CGSN (5.4), +CIMI (5.6), the vendor ICCID commands, +CSQ (8.5), +CREG/+CGREG/
+CEREG (7.2, 10.1.19, 10.1.21) and +COPS (7.3). Each takes the information lines of one
answer (as collected by :mod:`endorse_ble.peripheral.at_framing`) and returns a value, or raises
:class:`AtParseError` with a reason for a malformed answer; never any other exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from endorse_ble.peripheral.modem_errors import AtParseError, AtParseReason
from endorse_ble.peripheral.ports import Registration


@dataclass(frozen=True)
class Field:
    """One comma-separated parameter; ``quoted`` if it was a string constant."""

    text: str
    quoted: bool = False


def split_fields(text: str) -> list[Field]:
    """Split a parameter list (V.250 5.7.1: strings in double quotes may hold commas)."""
    fields: list[Field] = []
    rest = text.strip()
    if not rest:
        return fields
    while True:
        if rest.startswith('"'):
            end = rest.find('"', 1)
            if end < 0:
                raise AtParseError(AtParseReason.BAD_FORMAT, f"unterminated string in {text!r}")
            fields.append(Field(rest[1:end], quoted=True))
            rest = rest[end + 1 :].strip()
            if rest and not rest.startswith(","):
                raise AtParseError(AtParseReason.BAD_FORMAT, f"text after string in {text!r}")
        else:
            value, _, tail = rest.partition(",")
            if '"' in value:
                raise AtParseError(AtParseReason.BAD_FORMAT, f"stray quote in {text!r}")
            fields.append(Field(value.strip()))
            rest = "," + tail if _ else ""
        if not rest:
            return fields
        rest = rest[1:].strip()


def _int(item: Field, name: str, low: int, high: int, *, extra: Iterable[int] = ()) -> int:
    if item.quoted or not item.text.isdigit() or len(item.text) > 6:
        raise AtParseError(AtParseReason.NOT_A_NUMBER, f"{name}={item.text!r}")
    value = int(item.text)
    if not (low <= value <= high or value in extra):
        raise AtParseError(AtParseReason.OUT_OF_RANGE, f"{name}={value}")
    return value


def _answer_line(lines: Sequence[str], prefix: str) -> str:
    """The parameter text of the line starting with ``prefix``."""
    for line in lines:
        if line.upper().startswith(prefix):
            return line[len(prefix) :]
    raise AtParseError(AtParseReason.MISSING, f"no {prefix} line in {list(lines)!r}")


def _single_value(lines: Sequence[str], prefixes: Sequence[str], what: str) -> str:
    """The first field of a value some modems answer bare and others behind a ``+XXX:``
    prefix, quoted or not, maybe followed by more fields (``<sn>,<serial>``)."""
    for line in lines:
        upper = line.upper()
        for prefix in prefixes:
            if upper.startswith(prefix):
                line = line[len(prefix) :]
                break
        else:
            if not (line[:1].isalnum() or line[:1] == '"'):
                continue  # a prefixed line of some other command
        fields = split_fields(line)
        if fields:
            return fields[0].text.strip()
    raise AtParseError(AtParseReason.MISSING, f"no {what} in {list(lines)!r}")


def parse_imei(lines: Sequence[str]) -> str:
    """IMEI from ``AT+CGSN`` (27.007 5.4): bare digits, or ``+CGSN: "<sn>"`` on newer modems,
    on some followed by more fields (a serial number) that are ignored.

    Accepts the 15-digit IMEI and the 16-digit IMEISV (3GPP TS 23.003 6.2).
    """
    value = _single_value(lines, ("+CGSN:", "+GSN:", "IMEI:"), "IMEI")
    if not re.fullmatch(r"[0-9]{15,16}", value):
        raise AtParseError(AtParseReason.BAD_FORMAT, f"IMEI {value!r} is not 15-16 digits")
    return value


def parse_imsi(lines: Sequence[str]) -> str:
    """IMSI from ``AT+CIMI`` (27.007 5.6): at most 15 digits (TS 23.003 2.2)."""
    value = _single_value(lines, ("+CIMI:",), "IMSI")
    if not re.fullmatch(r"[0-9]{6,15}", value):
        raise AtParseError(AtParseReason.BAD_FORMAT, f"IMSI {value!r} is not 6-15 digits")
    return value


#: Vendor ICCID commands, tried in turn (none is in 27.007): ZTE/Sierra/SIMCom ``+CCID``,
#: Telit/u-blox ``+ICCID``/``+CCID``, Huawei ``^ICCID?``, Quectel ``+QCCID``.
ICCID_COMMANDS = ("AT+CCID", "AT+ICCID", "AT^ICCID?", "AT+QCCID")


def parse_iccid(lines: Sequence[str]) -> str:
    """The ICCID from a vendor ICCID answer, normalised by :func:`normalise_iccid`."""
    value = _single_value(lines, ("+CCID:", "+ICCID:", "^ICCID:", "+QCCID:", "ICCID:"), "ICCID")
    return normalise_iccid(value)


#: ITU-T E.118: an ICCID starts with the major industry identifier 89 (telecommunications).
ICCID_MII = "89"


def normalise_iccid(raw: str) -> str:
    """An ICCID as the SIM's card carries it (ITU-T E.118, 18-20 characters).

    Modems answer it quoted or not, padded with a trailing F (19 digits in 10 bytes), or
    straight from EF_ICCID with each byte's nibbles swapped (3GPP TS 31.102 4.2.2: BCD,
    low nibble first), which shows as "98..." instead of "89...". Some issuers use hex
    digits in the account part. What does not start with the telecom MII 89 once
    un-swapped is refused. The Luhn check digit is *not* enforced: many real ICCIDs fail
    it (see :func:`iccid_luhn_ok`).
    """
    value = raw.strip().strip('"').strip().upper()
    if len(value) % 2 == 0 and value.startswith("98"):
        value = "".join(value[i + 1] + value[i] for i in range(0, len(value), 2))
    value = value.rstrip("F")  # padding; the last digit proper is a decimal check digit
    if not re.fullmatch(r"[0-9A-F]{18,20}", value) or not value[:4].isdigit():
        raise AtParseError(AtParseReason.BAD_FORMAT, f"ICCID {raw!r} is not 18-20 digits")
    if not value.startswith(ICCID_MII):
        raise AtParseError(
            AtParseReason.BAD_FORMAT,
            f"ICCID {raw!r} does not start with the telecom identifier {ICCID_MII}",
        )
    return value


def iccid_luhn_ok(iccid: str) -> bool | None:
    """Whether an all-decimal ICCID's last digit is its Luhn check digit (ISO/IEC 7812-1);
    None when it has hex digits. Informational only."""
    if not iccid.isdigit():
        return None
    total = 0
    for index, char in enumerate(reversed(iccid)):
        digit = int(char) * (2 if index % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


@dataclass(frozen=True)
class SignalQuality:
    """``+CSQ: <rssi>,<ber>`` (27.007 8.5)."""

    rssi: int
    ber: int

    @property
    def dbm(self) -> int | None:
        """Received signal strength in dBm, or None when the modem does not know (99)."""
        return rssi_to_dbm(self.rssi)


def rssi_to_dbm(rssi: int) -> int | None:
    """27.007 8.5: 0 is -113 dBm or less, 1 is -111, 2..30 are -109..-53, 31 is -51 or more."""
    if rssi == 99 or not 0 <= rssi <= 31:
        return None
    return -113 + 2 * rssi


def parse_csq(lines: Sequence[str]) -> SignalQuality:
    """Read ``+CSQ: <rssi>,<ber>``; rssi 0..31 or 99, ber 0..7 or 99."""
    fields = split_fields(_answer_line(lines, "+CSQ:"))
    if len(fields) != 2:
        raise AtParseError(AtParseReason.FIELD_COUNT, f"+CSQ has {len(fields)} fields")
    rssi = _int(fields[0], "rssi", 0, 31, extra=(99,))
    ber = _int(fields[1], "ber", 0, 7, extra=(99,))
    return SignalQuality(rssi, ber)


# 27.007 7.2 <stat>: 6/7 are "SMS only" and 9/10 "CSFB not preferred", both still attached
# to the home/visited network; 8 and 11 are emergency-only, which carries no data.
_STAT = {
    0: Registration.NOT_REGISTERED,
    1: Registration.HOME,
    2: Registration.SEARCHING,
    3: Registration.DENIED,
    4: Registration.UNKNOWN,
    5: Registration.ROAMING,
    6: Registration.HOME,
    7: Registration.ROAMING,
    8: Registration.NOT_REGISTERED,
    9: Registration.HOME,
    10: Registration.ROAMING,
    11: Registration.NOT_REGISTERED,
}


@dataclass(frozen=True)
class RegistrationStatus:
    """``+CREG/+CGREG/+CEREG: <n>,<stat>[,<lac|tac>,<ci>[,<AcT>...]]`` (27.007 7.2, 10.1.20)."""

    n: int
    stat: int
    area: str | None = None
    cell: str | None = None
    act: int | None = None

    @property
    def registration(self) -> Registration:
        return _STAT[self.stat]


def is_registration_answer(fields: Sequence[Field]) -> bool:
    """Whether a ``+CREG/+CGREG/+CEREG`` line answers the read command or is a URC.

    27.007 7.2: the read answer is ``<n>,<stat>[,<lac>,<ci>[,<AcT>...]]``; the URC drops
    ``<n>``: ``<stat>[,<lac>,<ci>[,<AcT>]]``. Decided by the line alone, so the same line
    is always read the same way: an answer has at least two fields, an unquoted ``<n>`` of
    0-5 and an unquoted decimal ``<stat>`` of 0-11 second. A second field of three or more
    digits after a one-digit first is an unquoted ``<lac>`` (Altair's ``+CEREG: 2, 0001,
    ...``), unless the first field is zero-padded too (Iridium's ``+CREG:002,001,...``).
    """
    if len(fields) < 2:
        return False
    first, second = fields[0], fields[1]
    if first.quoted or second.quoted or not first.text.isdigit() or not second.text.isdigit():
        return False
    if len(first.text) > 3 or int(first.text) > 5 or int(second.text) > 11:
        return False
    return not (len(second.text) >= 3 and len(first.text) == 1)


def parse_registration(lines: Sequence[str], prefix: str) -> RegistrationStatus:
    """Read the answer to ``AT+CREG?`` (prefix ``+CREG:``), ``AT+CGREG?`` or ``AT+CEREG?``.

    Only ``<n>`` and ``<stat>`` must be well formed; vendors differ in what follows (extra
    spaces, Samsung's trailing letters, Novatel's ``<tac>,<rac>,<ci>``), so location
    fields are kept as text and an unreadable ``<AcT>`` is None, never an error.
    """
    answers = [line for line in lines if line.upper().startswith(prefix)]
    if not answers:
        raise AtParseError(AtParseReason.MISSING, f"no {prefix} line in {list(lines)!r}")
    fields = split_fields(answers[-1][len(prefix) :])
    if len(fields) < 2:
        raise AtParseError(AtParseReason.FIELD_COUNT, f"{prefix} has {len(fields)} fields")
    n = _int(fields[0], "n", 0, 5)
    stat = _int(fields[1], "stat", 0, 11)
    area = fields[2].text if len(fields) > 2 else None
    cell = fields[3].text if len(fields) > 3 else None
    act_text = fields[4].text if len(fields) > 4 else ""
    act = int(act_text) if act_text.isdigit() and int(act_text) <= 15 else None
    return RegistrationStatus(n, stat, area, cell, act)


_PREFERENCE = (
    Registration.HOME,
    Registration.ROAMING,
    Registration.SEARCHING,
    Registration.DENIED,
    Registration.NOT_REGISTERED,
    Registration.UNKNOWN,
)


def best_registration(states: Iterable[Registration]) -> Registration:
    """The most useful of the CS, PS and EPS states: registered if any domain is."""
    seen = set(states)
    return next((r for r in _PREFERENCE if r in seen), Registration.UNKNOWN)


def parse_cops(lines: Sequence[str]) -> str | None:
    """Operator from ``+COPS: <mode>[,<format>,<oper>[,<AcT>]]`` (27.007 7.3); None if absent."""
    fields = split_fields(_answer_line(lines, "+COPS:"))
    if not 1 <= len(fields) <= 4:
        raise AtParseError(AtParseReason.FIELD_COUNT, f"+COPS has {len(fields)} fields")
    _int(fields[0], "mode", 0, 4)
    if len(fields) == 1:
        return None
    if len(fields) == 2:
        raise AtParseError(AtParseReason.FIELD_COUNT, "+COPS has <format> without <oper>")
    _int(fields[1], "format", 0, 2)
    if not fields[2].quoted:
        raise AtParseError(AtParseReason.BAD_FORMAT, f"<oper> {fields[2].text!r} is not quoted")
    if len(fields) == 4:
        _int(fields[3], "AcT", 0, 15)
    return fields[2].text.strip() or None
