"""What ``status`` shows: the gateway's info record and status JSON, formatted (pure).

The status record comes over the air: any key may be missing or of the wrong type, and
strings are sanitised before they reach the terminal (docs/protocol.md, Status).
"""

from __future__ import annotations

import math
from typing import Any

from endorse_ble.central.process_json import format_utc
from endorse_ble.central.token_view import duration
from endorse_ble.tokenlink.profile import InfoRecord
from endorse_ble.tokenlink.text import one_line


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _number(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if math.isfinite(value) else None  # JSON's 1e400 parses as inf


def info_json(info: InfoRecord) -> dict[str, Any]:
    """The info record as JSON-ready values (enum names in lower case)."""
    return {
        "version": info.version,
        "encoding": info.encoding.name.lower(),
        "token_state": info.token_state.name.lower(),
        "challenge_state": info.challenge_state.name.lower(),
        "generation": info.generation,
        "length": info.total_length,
        "pages": info.page_count,
        "expires_at": info.expires_at,
        "hash_prefix": f"{info.hash_prefix:08x}",
        "nonce_tag": info.nonce_tag,
    }


def status_lines(
    info: InfoRecord, status: dict[str, Any], now: float, gateway: str
) -> list[tuple[str, str]]:
    """(label, value) rows: token age and expiry, modem, last error."""
    rows: list[tuple[str, str]] = [("gateway", gateway), ("profile", f"v{info.version}")]
    # The JWT's own length, as the gateway's log gives it (len=...); the info record's
    # total_length counts the encoded bytes carried over BLE, which is smaller.
    size = _number(_get(status, "token", "len"))
    token = info.token_state.name.lower()
    if size is not None:
        token += f", {size} bytes (JWT)"
    token += f", {info.total_length} bytes over BLE"
    if info.expires_at:
        token += f", expires {format_utc(info.expires_at)} ({duration(info.expires_at - now)})"
    iat = _number(_get(status, "token", "iat"))
    if iat is not None:
        token += f", age {duration(now - iat)}"
    fetches = _number(_get(status, "token", "fetches"))
    if fetches is not None:
        token += f", {fetches} fetches"
    rows.append(("token", token))
    rows.append(("challenge", info.challenge_state.name.lower()))
    refused = _get(status, "refused")
    if isinstance(refused, list) and refused:
        rows.append(("refused", _refusals(refused)))
    modem = []
    for key, fmt in (("reg", "{}"), ("dbm", "{} dBm"), ("op", "{}")):
        value = _get(status, "modem", key)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            modem.append(fmt.format(value))
    rows.append(("modem", ", ".join(modem) or "unknown"))
    error = _get(status, "error")
    rows.append(("last error", str(error) if error else "none"))
    return [(label, one_line(value, 120)) for label, value in rows]


def _refusals(entries: list[Any]) -> str:
    """Recent refused fresh-token requests: why, and when the next is allowed."""
    parts = []
    for entry in entries[:3]:
        why = _get(entry, "why")
        wait = _number(_get(entry, "next_in"))
        if isinstance(why, str):
            parts.append(why if wait is None else f"{why} (next in {wait} s)")
    return "; ".join(parts) or "none"
