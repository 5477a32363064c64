"""The AT parser against real modems' answers, kept as data.

Lines marked MM come from ModemManager's test suite (src/tests/test-modem-helpers.c, the
+CREG/+CGREG/+CEREG and ICCID cases, each captured from the modem named beside it); the
expected state is the one ModemManager's test asserts. Lines marked Nordic come from the
nRF Connect SDK's AT parser tests (tests/lib/at_cmd_parser), an nRF9160's notification.
Lines marked 27.007 are the standard's own layouts.
"""

from __future__ import annotations

import pytest

from endorse_ble.peripheral.at_framing import LineKind, RawLine, ResponseReader, classify
from endorse_ble.peripheral.at_parser import (
    iccid_luhn_ok,
    normalise_iccid,
    parse_iccid,
    parse_imei,
    parse_registration,
)
from endorse_ble.peripheral.modem_errors import AtParseError

ANSWER, URC = LineKind.INFO, LineKind.URC

# (line, what it is when it arrives during the read command, <stat> of an answer)
REGISTRATION_LINES = [
    ("+CREG: 1,3", ANSWER, 3),  # MM: CREG=1
    ("+CREG: 3", URC, None),  # MM: CREG=1
    ("+CREG: 11", URC, None),  # MM: multidigit stat
    ("+CREG: 1,1,84CD,00D30173", ANSWER, 1),  # MM: Sierra Mercury
    ("+CREG: 1,84CD,00D30156", URC, None),  # MM: Sierra Mercury
    ('+CREG: 11,"33FE","a3fb477"', URC, None),  # MM: multidigit stat
    ('+CREG: 2,1,"CE00","01CEAD8F"', ANSWER, 1),  # MM: Sony Ericsson K850i
    ('+CREG: 1,"CE00","00005449"', URC, None),  # MM: Sony Ericsson K850i
    ("+CREG: 2,0,00,0", ANSWER, 0),  # MM: Huawei E160G unregistered
    ("+CREG: 2,1,8BE3,2BAF", ANSWER, 1),  # MM: Huawei E160G
    ("+CREG: 1,8BE3,2BAF", URC, None),  # MM: Huawei E160G
    ('+CREG: 2,1,"8BE3","00002BAF"', ANSWER, 1),  # MM: Sony Ericsson TM-506
    ("+CREG: 2,,", URC, None),  # MM: Novatel XU870 unregistered
    ('+CREG:002,001,"18d8","ffff"', ANSWER, 1),  # MM: Iridium
    ("+CREG:2,1,0001,0010", ANSWER, 1),  # MM: no leading zeros
    ('+CREG:002,001,"0001","0010"', ANSWER, 1),  # MM: leading zeros
    ("+CREG: 1,0001,0010,0", URC, None),  # MM: unquoted LAC
    ('+CREG: 001,"0001","0010",000', URC, None),  # MM: leading zeros
    ("+CREG: 10,0001,0010,0", URC, None),  # MM: multidigit stat, unquoted LAC
    ('+CREG: 0011,"0001","0010",000', URC, None),  # MM: leading zeros, multidigit stat
    ('+CREG: 2,6,"8B37","0A265185",7', ANSWER, 6),  # MM: u-blox TOBY-L2 on LTE
    ('+CREG: 6,"8B37","0A265185",7', URC, None),  # MM: u-blox TOBY-L2 on LTE
    ('+CREG: 2,5,"0502","0404736D"', ANSWER, 5),  # MM: Sony-Ericsson MD400
    ("+CREG: 2,1,000B,2816, B, C2816", ANSWER, 1),  # MM: Samsung Wave S8500
    ("+CREG: 2,11,003F,8FE3, B, C2816", ANSWER, 11),  # MM: Samsung Wave S8500
    ("+CREG: 2,1,  0 5, 2715", ANSWER, 1),  # MM: Qualcomm Gobi 1000
    ("+CGREG: 1,3", ANSWER, 3),  # MM: CGREG=1
    ("+CGREG: 3", URC, None),  # MM: CGREG=1
    ('+CGREG: 2,1,"8BE3","00002B5D",3', ANSWER, 1),  # MM: Ericsson F3607gw
    ('+CGREG: 1,"8BE3","00002B5D",3', URC, None),  # MM: Ericsson F3607gw
    ('+CGREG: 5,"0502","0404736D",2', URC, None),  # MM: Sony-Ericsson MD400
    ("+CGREG: 2,1, 81ED, 1A9CEB", ANSWER, 1),  # MM: Alcatel One-Touch X220D
    ('+CGREG: 1,"1422","00000142",3,"00"', URC, None),  # MM: with RAC
    ('+CGREG: 11,"B092","00000697",3,"00"', URC, None),  # MM: with RAC, multidigit stat
    ("+CGREG:2,10,ebbd,f025", ANSWER, 10),  # MM: no leading zeros
    ('+CGREG:002,0011,"0f0d","14c3"', ANSWER, 11),  # MM: leading zeros
    ('+CGREG: 2, 1, "0426", "F00F"', ANSWER, 1),  # MM: Thuraya
    ('+CGREG: 1, "0426", "F00F"', URC, None),  # MM: Thuraya
    ("+CEREG: 1,3", ANSWER, 3),  # MM: CEREG=1
    ("+CEREG: 3", URC, None),  # MM: CEREG=1
    ("+CEREG: 2,1, 1F00, 79D903 ,7", ANSWER, 1),  # MM: CEREG=2
    ("+CEREG: 1, 1F00, 79D903 ,7", URC, None),  # MM: CEREG=2
    ('+CEREG: 2,10,"8d83","671f98a",7', ANSWER, 10),  # MM: multidigit stat
    ("+CEREG: 2,10, 2CA8, 20 ,B5583D ,7", ANSWER, 10),  # MM: with RAC
    ("+CEREG: 11, 78FE, 20 ,14419E ,7", URC, None),  # MM: with RAC
    ("+CEREG: 1, 2, 0001, 00000100, 7", ANSWER, 2),  # MM: Altair LTE
    ("+CEREG: 2, 0001, 00000100, 7", URC, None),  # MM: Altair LTE
    ("+CEREG: 2,1, 1F00, 20 ,79D903 ,7", ANSWER, 1),  # MM: Novatel LTE E362 (tac,rac,ci)
    ("+CEREG: 1, 1F00, 20 ,79D903 ,7", URC, None),  # MM: Novatel LTE E362
    ('+CEREG: 2,"76C1","0102DA04", 7', URC, None),  # Nordic: nRF9160 notification
]


@pytest.mark.parametrize(("line", "kind", "stat"), REGISTRATION_LINES)
def test_registration_line_is_told_apart_and_read(
    line: str, kind: LineKind, stat: int | None
) -> None:
    """Each real line is an answer or a URC by its shape alone; an answer's stat is read."""
    prefix = line.split(":")[0] + ":"
    command = f"AT{prefix[:-1]}?"
    found, text = classify(RawLine(line.encode()), command)
    assert found is kind
    if stat is not None:
        assert parse_registration([text], prefix).stat == stat


@pytest.mark.parametrize(
    ("urc", "answer", "stat"),
    [
        ("+CEREG: 2, 0001, 00000100, 7", "+CEREG: 0,1", 1),  # Altair URC, searching
        ("+CREG: 1,0001,0010,0", "+CREG: 0,2", 2),  # unquoted LAC, a home URC
        ('+CGREG: 5,"0502","0404736D",2', "+CGREG: 0,0", 0),
    ],
)
def test_urc_during_the_read_command_is_not_the_answer(urc: str, answer: str, stat: int) -> None:
    """A URC arriving between the read command and its answer is set aside."""
    command = f"AT{answer.split(':')[0]}?"
    stream = f"\r\n{urc}\r\n\r\n{answer}\r\n\r\nOK\r\n".encode()
    response = ResponseReader(command).feed(stream)
    assert response is not None
    assert response.urcs == (urc,)
    assert parse_registration(response.lines, answer.split(":")[0] + ":").stat == stat


@pytest.mark.parametrize(
    ("stream", "csq"),
    [
        (b"\r\n+CSQ: 2\x000,99\r\n\r\nOK\r\n", "+CSQ: 20,99"),
        (b"\r\n\xff\xff+CSQ: 20,99\r\n\r\nOK\r\n", "+CSQ: 20,99"),
        (b"\x00\r\n+CSQ: 20,99\x00\r\n\r\nO\x00K\r\n", "+CSQ: 20,99"),
    ],
)
def test_nul_and_ff_bytes_are_dropped_without_losing_the_line(stream: bytes, csq: str) -> None:
    """NUL and 0xFF inside a line vanish; the values around them survive."""
    response = ResponseReader("AT+CSQ").feed(stream)
    assert response is not None and response.ok
    assert response.lines == (csq,)


@pytest.mark.parametrize(
    "lines",
    [
        ["490154203237518"],  # 27.007 5.4, bare
        ['+CGSN: "490154203237518"'],  # 27.007 5.4 with <snt>
        ["+CGSN: 490154203237518,SN1234567"],  # IMEI then a serial number
        ['"490154203237518","SN1234567"'],
        ["IMEI: 490154203237518"],  # ATI-style, as in MM's ATI answers
    ],
)
def test_imei_with_quotes_and_trailing_fields(lines: list[str]) -> None:
    assert parse_imei(lines) == "490154203237518"


# (what the modem said, the ICCID) -- MM: test_iccid_parse_* in test-modem-helpers.c
ICCIDS = [
    ('"984402003576012594F9"', "8944200053671052499"),  # quoted, BCD-swapped, 19 digits
    ("98231420326409614067", "89324102234690160476"),  # BCD-swapped, 20 digits
    ("8944200053671052499F", "8944200053671052499"),  # F-padded
    ("8944200053671052499", "8944200053671052499"),
    ('"89324102234690160476"', "89324102234690160476"),  # quoted
    ('"898602F9091830030220"', "898602F9091830030220"),  # hex account digits
    ('"898602C0123456789012"', "898602C0123456789012"),  # hex account digits
]


@pytest.mark.parametrize(("raw", "iccid"), ICCIDS)
def test_iccid_normalisation(raw: str, iccid: str) -> None:
    assert normalise_iccid(raw) == iccid
    assert parse_iccid([raw]) == iccid  # a bare (maybe quoted) answer line
    assert parse_iccid([f"+CCID: {raw}"]) == iccid


@pytest.mark.parametrize(
    "raw",
    [
        "982314203264096",  # MM: too short
        "98231420326pl9614067",  # MM: invalid characters
        '"0044200053671052499"',  # MM: invalid major industry identifier
        "0044200053671052499",  # MM: invalid major industry identifier
        "",
    ],
)
def test_iccid_refused(raw: str) -> None:
    with pytest.raises(AtParseError):
        normalise_iccid(raw)


@pytest.mark.parametrize(
    ("iccid", "ok"),
    [
        ("89014103211118510720", True),
        ("89014103211118510721", False),
        ("898602F9091830030220", None),
    ],
)
def test_iccid_luhn(iccid: str, ok: bool | None) -> None:
    """The check digit is judged (ISO/IEC 7812-1), for information only."""
    assert iccid_luhn_ok(iccid) is ok
