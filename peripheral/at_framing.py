"""Pure AT response framing (ITU-T V.250, 3GPP TS 27.007): no serial I/O here.

* :class:`LineSplitter` cuts the byte stream into lines. V.250 5.7.1 frames verbose
  responses as ``<CR><LF>text<CR><LF>`` while a command echo (ATE1) ends with ``<CR>``
  only, and real modems mix both, so any run of CR/LF ends a line and blank lines vanish.
  Lines are bounded: a longer run is cut and flagged (PPP frames have no CR/LF at all).
* :class:`ResponseCollector` sorts the lines that follow one command into its echo, its
  information text, its final result code (V.250 5.7.2, 27.007 9.2 ``+CME ERROR``) and
  unsolicited result codes (URCs) that the modem interleaves at any moment; URCs are set
  aside, never mistaken for the answer.
* :class:`ResponseReader` joins the two for one command and enforces the size bounds.

The information text is read into values by :mod:`endorse_ble.peripheral.at_parser`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from endorse_ble.peripheral.at_parser import is_registration_answer, split_fields
from endorse_ble.peripheral.modem_errors import AtParseError, ModemError, ModemErrorReason

#: Longest line kept; 27.007 answers are far shorter (an ATI banner line is < 100 bytes).
MAX_LINE_BYTES = 512
#: Most information lines one command may produce before the answer counts as hostile.
MAX_INFO_LINES = 64
#: Unreadable lines tolerated before a response is declared garbage.
MAX_GARBAGE_LINES = 8

_TERMINATORS = b"\r\n"


@dataclass(frozen=True)
class RawLine:
    """One line from the modem, without its terminator; ``overlong`` if it was cut."""

    data: bytes
    overlong: bool = False


class LineSplitter:
    """Incremental splitter of a modem byte stream into :class:`RawLine` s."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._max = max_line_bytes
        self._buf = bytearray()
        self._cut = False  # the line being read has already been emitted as overlong

    def feed(self, data: bytes) -> list[RawLine]:
        """Add ``data`` and return the lines it completed, in order."""
        out: list[RawLine] = []
        for byte in data:
            if byte in _TERMINATORS:
                if self._buf and not self._cut:
                    out.append(RawLine(bytes(self._buf)))
                self._buf.clear()
                self._cut = False
            elif not self._cut:
                self._buf.append(byte)
                if len(self._buf) >= self._max:
                    # Emit once and drop the rest of this line: memory stays bounded.
                    out.append(RawLine(bytes(self._buf), overlong=True))
                    self._buf.clear()
                    self._cut = True
        return out

    @property
    def pending(self) -> bytes:
        """Bytes of a line not yet terminated (a prompt, or a modem cut off mid-line)."""
        return bytes(self._buf)


class LineKind(enum.Enum):
    """What a line is, relative to the command that is waiting for its answer."""

    ECHO = "echo"
    INFO = "info"
    FINAL = "final"
    URC = "urc"
    PPP = "ppp"
    GARBAGE = "garbage"


class FinalResult(enum.Enum):
    """Final result codes (V.250 5.7.2 table 1; 27.007 9.2, 27.005 3.2.5)."""

    OK = "OK"
    CONNECT = "CONNECT"
    ERROR = "ERROR"
    NO_CARRIER = "NO CARRIER"
    BUSY = "BUSY"
    NO_ANSWER = "NO ANSWER"
    NO_DIALTONE = "NO DIALTONE"
    CME_ERROR = "+CME ERROR"
    CMS_ERROR = "+CMS ERROR"


_FINAL_WORDS = {r.value: r for r in FinalResult if not r.value.startswith("+")}

# Prefixes of unsolicited result codes seen on 3G/LTE modems: 27.007 (ring, SMS, network
# registration, packet domain events, USSD, indicators), 27.005 (SMS), and vendor
# reports (Huawei ^RSSI/^MODE/^BOOT/^DSFLOWRPT/^SRVST/^SIMST/^HCSQ, ZTE +ZUSIMR,
# Quectel +QIND, Sierra +PACSP).
_URC_PREFIXES = (
    "+CRING:",
    "+CLIP:",
    "+CCWA:",
    "+CMTI:",
    "+CMT:",
    "+CDS:",
    "+CDSI:",
    "+CBM:",
    "+CUSD:",
    "+CGEV:",
    "+CIEV:",
    "+CREG:",
    "+CGREG:",
    "+CEREG:",
    "+C5GREG:",
    "+CTZV:",
    "+CTZE:",
    "+QIND:",
    "+ZUSIMR:",
    "+PACSP",
    "^RSSI:",
    "^HCSQ:",
    "^MODE:",
    "^BOOT:",
    "^DSFLOWRPT:",
    "^SRVST:",
    "^SIMST:",
    "^RSSILVL:",
    "^CEND:",
    "^ORIG:",
    "^CONF:",
    "^CONN:",
)
_URC_WORDS = frozenset({"RING", "RDY", "+PACSP0", "+PACSP1", "PB DONE", "SMS DONE"})
_REGISTRATION_PREFIXES = ("+CREG:", "+CGREG:", "+CEREG:")

# PPP in HDLC-like framing (RFC 1662 4.1, 4.3): a frame opens with flag 0x7E, address 0xFF,
# then control 0x03, which the default ACCM escapes as 0x7D 0x23.
_PPP_MARKERS = (b"\x7e\xff\x7d\x23", b"\x7e\xff\x03", b"\x7e\x7d\xdf\x7d\x23")


def command_prefix(command: str) -> str:
    """The information-response prefix of an extended command: ``AT+CREG?`` -> ``+CREG:``."""
    body = command.strip().upper()
    if body.startswith("AT"):
        body = body[2:]
    match = re.match(r"([+^!$%*#][A-Z0-9]+)", body)
    return f"{match.group(1)}:" if match else ""


def looks_like_ppp(data: bytes) -> bool:
    """True if ``data`` carries the start of a PPP frame."""
    return any(marker in data for marker in _PPP_MARKERS)


#: Bytes real modems put inside otherwise good lines (padding, a UART glitch on reset):
#: dropped, so the line's values survive. Any other unprintable byte makes it garbage.
_DROPPED_BYTES = b"\x00\xff"


def _is_printable(data: bytes) -> bool:
    return all(0x20 <= b < 0x7F or b == 0x09 for b in data)


def _is_registration_answer(text: str) -> bool:
    try:
        fields = split_fields(text.split(":", 1)[1])
    except AtParseError:
        return False
    return is_registration_answer(fields)


def classify(line: RawLine, command: str) -> tuple[LineKind, str]:
    """Sort one line relative to ``command``; returns the kind and the line as text."""
    if looks_like_ppp(line.data):
        return LineKind.PPP, ""
    data = line.data.translate(None, _DROPPED_BYTES)
    if line.overlong or not data or not _is_printable(data):
        return LineKind.GARBAGE, ""
    text = data.decode("ascii").strip()
    upper = text.upper()
    if upper == command.strip().upper():
        return LineKind.ECHO, text
    if upper in _FINAL_WORDS or upper.startswith(("CONNECT ", "+CME ERROR:", "+CMS ERROR:")):
        return LineKind.FINAL, text
    own = command_prefix(command)
    if upper in _URC_WORDS:
        return LineKind.URC, text
    if own and upper.startswith(own):
        if own in _REGISTRATION_PREFIXES and not _is_registration_answer(text):
            return LineKind.URC, text
        return LineKind.INFO, text
    if upper.startswith(_URC_PREFIXES):
        return LineKind.URC, text
    return LineKind.INFO, text


def _final_of(text: str) -> tuple[FinalResult, str]:
    upper = text.upper()
    for result in (FinalResult.CME_ERROR, FinalResult.CMS_ERROR):
        if upper.startswith(result.value + ":"):
            return result, text.split(":", 1)[1].strip()
    if upper.startswith("CONNECT"):
        return FinalResult.CONNECT, text[7:].strip()
    return _FINAL_WORDS[upper], ""


@dataclass(frozen=True)
class AtResponse:
    """One command's complete answer; ``urcs`` are the URCs that arrived meanwhile."""

    command: str
    final: FinalResult
    lines: tuple[str, ...] = ()
    urcs: tuple[str, ...] = ()
    error_detail: str = ""  # the <err> of +CME ERROR / +CMS ERROR (number or text)

    @property
    def ok(self) -> bool:
        return self.final is FinalResult.OK


@dataclass
class ResponseCollector:
    """Collects the lines after ``command`` until its final result code.

    ``feed`` returns the :class:`AtResponse` once the final result code arrives; it raises
    :class:`ModemError` at once for PPP frames (the port belongs to pppd), for more than
    :data:`MAX_GARBAGE_LINES` unreadable lines, or for more than ``max_lines`` lines.
    """

    command: str
    max_lines: int = MAX_INFO_LINES
    lines: list[str] = field(default_factory=list)
    urcs: list[str] = field(default_factory=list)
    garbage_lines: int = 0

    def feed(self, line: RawLine) -> AtResponse | None:
        kind, text = classify(line, self.command)
        if kind is LineKind.PPP:
            raise ModemError(ModemErrorReason.PPP_BUSY, f"PPP frames in answer to {self.command}")
        if kind is LineKind.GARBAGE:
            self.garbage_lines += 1
            if self.garbage_lines > MAX_GARBAGE_LINES:
                raise ModemError(
                    ModemErrorReason.GARBAGE,
                    f"{self.garbage_lines} unreadable lines in answer to {self.command}",
                )
        elif kind is LineKind.ECHO:
            pass  # the modem repeating our command (ATE1): nothing to keep
        elif kind is LineKind.URC:
            self.urcs.append(text)
        elif kind is LineKind.INFO:
            self.lines.append(text)
        else:
            final, detail = _final_of(text)
            return AtResponse(self.command, final, tuple(self.lines), tuple(self.urcs), detail)
        if len(self.lines) + len(self.urcs) > self.max_lines:
            raise ModemError(
                ModemErrorReason.OVERSIZED, f"over {self.max_lines} lines for {self.command}"
            )
        return None


#: Most bytes read for one command before the answer counts as hostile.
MAX_RESPONSE_BYTES = 8192


class ResponseReader:
    """Bytes after one command -> its :class:`AtResponse`, within the size bounds.

    Joins a :class:`LineSplitter` and a :class:`ResponseCollector` and also watches the
    unterminated tail: PPP frames carry no CR/LF, so they never complete a line.
    """

    def __init__(self, command: str, max_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self.command = command
        self._max_bytes = max_bytes
        self._received = 0
        self._splitter = LineSplitter()
        self._collector = ResponseCollector(command)

    def feed(self, data: bytes) -> AtResponse | None:
        """Add bytes; the response once complete. Raises :class:`ModemError` if hostile."""
        self._received += len(data)
        for line in self._splitter.feed(data):
            response = self._collector.feed(line)
            if response is not None:
                return response
        if looks_like_ppp(self._splitter.pending):
            raise ModemError(ModemErrorReason.PPP_BUSY, f"PPP frames in answer to {self.command}")
        if self._received > self._max_bytes:
            raise ModemError(
                ModemErrorReason.OVERSIZED, f"over {self._max_bytes} bytes for {self.command}"
            )
        return None

    def timeout_error(self, budget: float) -> ModemError:
        """The error for a response that did not end within ``budget`` seconds."""
        message = f"no final result code for {self.command} within {budget:g} s"
        if self._collector.garbage_lines:
            message += f" ({self._collector.garbage_lines} unreadable lines)"
            return ModemError(ModemErrorReason.GARBAGE, message)
        return ModemError(ModemErrorReason.TIMEOUT, message)
