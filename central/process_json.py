"""The credential_process JSON and the cache files: a flat JSON subset and UTC timestamps.

The cached ``credential-process`` path must not import :mod:`json` (it pulls in :mod:`re`
and costs more than half a Python start-up), so the files we write ourselves use a strict
subset of JSON that a few lines can read: one flat object whose values are integers or
strings of printable ASCII without quotes or backslashes (no escapes needed). Everything
else reads as ``None`` and the caller treats the file as absent. Every output is still
valid JSON (RFC 8259), identical to ``json.dumps`` of the same dict.

Timestamps use the one RFC 3339 form AWS prints, ``YYYY-MM-DDTHH:MM:SSZ``.
"""

from __future__ import annotations

import time

_WHITESPACE = " \t\r\n"


def is_plain_string(value: str) -> bool:
    """True when ``value`` needs no JSON escape: printable ASCII, no quote, no backslash."""
    return value.isascii() and value.isprintable() and '"' not in value and "\\" not in value


def render_flat_object(items: list[tuple[str, str | int]]) -> str:
    """``{"k": "v", "n": 1}`` for plain strings and ints (the layout of ``json.dumps``)."""
    parts = []
    for key, value in items:
        if not is_plain_string(key):
            raise ValueError(f"key {key!r} is not a plain string")
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"{key}: only strings and integers are supported")
        if isinstance(value, str):
            if not is_plain_string(value):
                raise ValueError(f"{key}: value is not a plain string")
            parts.append(f'"{key}": "{value}"')
        else:
            parts.append(f'"{key}": {value}')
    return "{" + ", ".join(parts) + "}"


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WHITESPACE:
        i += 1
    return i


def _string(text: str, i: int) -> tuple[str, int] | None:
    if i >= len(text) or text[i] != '"':
        return None
    end = text.find('"', i + 1)
    if end < 0:
        return None
    value = text[i + 1 : end]
    return (value, end + 1) if is_plain_string(value) else None


def _integer(text: str, i: int) -> tuple[int, int] | None:
    start = i
    if i < len(text) and text[i] == "-":
        i += 1
    digits = i
    while i < len(text) and "0" <= text[i] <= "9":
        i += 1
    # JSON forbids leading zeros; a fraction or exponent is not in our subset.
    if i == digits or i - digits > 18 or (text[digits] == "0" and i - digits > 1):
        return None
    return int(text[start:i]), i


def parse_flat_object(text: str) -> dict[str, str | int] | None:
    """Read the subset :func:`render_flat_object` writes; ``None`` for anything else."""
    i = _skip(text, 0)
    if i >= len(text) or text[i] != "{":
        return None
    result: dict[str, str | int] = {}
    i = _skip(text, i + 1)
    if i < len(text) and text[i] == "}":
        return result if _skip(text, i + 1) == len(text) else None
    while True:
        key = _string(text, i)
        if key is None or key[0] in result:
            return None
        i = _skip(text, key[1])
        if i >= len(text) or text[i] != ":":
            return None
        i = _skip(text, i + 1)
        value: tuple[str | int, int] | None = _string(text, i) or _integer(text, i)
        if value is None:
            return None
        result[key[0]] = value[0]
        i = _skip(text, value[1])
        if i < len(text) and text[i] == ",":
            i = _skip(text, i + 1)
            continue
        if i < len(text) and text[i] == "}":
            return result if _skip(text, i + 1) == len(text) else None
        return None


def format_utc(epoch: int) -> str:
    """``epoch`` (Unix seconds) as ``YYYY-MM-DDTHH:MM:SSZ`` (RFC 3339, UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _days_from_civil(year: int, month: int, day: int) -> int:
    # Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm).
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def parse_utc(text: str) -> int | None:
    """Unix seconds of a ``YYYY-MM-DDTHH:MM:SSZ`` timestamp; ``None`` for any other form."""
    if len(text) != 20 or text[4] != "-" or text[7] != "-" or text[10] != "T":
        return None
    if text[13] != ":" or text[16] != ":" or text[19] != "Z":
        return None
    fields = (text[0:4], text[5:7], text[8:10], text[11:13], text[14:16], text[17:19])
    if not all(f.isascii() and f.isdigit() for f in fields):
        return None
    year, month, day, hour, minute, second = (int(f) for f in fields)
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60):
        return None
    epoch = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    # A day past the month's end (2026-02-30) would roll over: refuse it. gmtime refuses
    # years before 1970 on some platforms: such a date is no expiry of ours either.
    try:
        rolled = time.gmtime(epoch)[:3]
    except (OverflowError, OSError, ValueError):
        return None
    return epoch if rolled == (year, month, day) else None
