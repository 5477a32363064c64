"""What ``inspect`` shows about a token: pure formatting of the parsed claims."""

from __future__ import annotations

from typing import Any

from endorse_ble.central.process_json import format_utc
from endorse_ble.tokenlink.nonce import bound_thumbprint
from endorse_ble.tokenlink.text import one_line
from endorse_ble.tokenlink.token import Token


def duration(seconds: float) -> str:
    """``seconds`` as ``1h 02m 03s`` / ``4m 05s`` / ``6s`` (negative: ``expired 6s ago``)."""
    if seconds < 0:
        return f"expired {duration(-seconds)} ago"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _when(epoch: int | None) -> str | None:
    return None if epoch is None else format_utc(epoch)


def token_summary(token: Token, now: float) -> dict[str, Any]:
    """A JSON-ready description of ``token`` (never the token itself)."""
    summary: dict[str, Any] = {
        "alg": token.header.alg,
        "kid": token.header.kid,
        "iss": token.issuer,
        "aud": list(token.audience),
        "sub": token.subject,
        "jti": token.jwt_id,
        "iat": _when(token.issued_at),
        "nbf": _when(token.not_before),
        "exp": _when(token.expires_at),
        "seconds_left": int(token.seconds_left(now)),
        "expired": token.is_expired(now),
        "imsi": token.claim.imsi,
        "imei": token.claim.imei,
        "msisdn": token.claim.msisdn,
        "sim_id": token.claim.sim_id,
        "request_parameters": dict(token.claim.request_parameters),
        "nonce": token.nonce,
        "size": token.size,
        "sha256": token.fingerprint,
    }
    jkt = bound_thumbprint(token.nonce)
    if jkt is not None:
        summary["laptop_key"] = jkt
    return summary


def _laptop_key(token: Token) -> str | None:
    jkt = bound_thumbprint(token.nonce)
    return None if jkt is None else f"jkt={jkt} (the nonce names this laptop key)"


def token_lines(token: Token, now: float) -> list[tuple[str, str]]:
    """(label, value) rows for people; every claim value is sanitised for the terminal."""
    claim = token.claim
    rows: list[tuple[str, str | None]] = [
        ("IMSI", claim.imsi),
        ("IMEI", claim.imei),
        ("MSISDN", claim.msisdn),
        ("SIM id", claim.sim_id),
        ("expires", f"{format_utc(token.expires_at)} ({duration(token.seconds_left(now))})"),
        ("issued", _when(token.issued_at)),
        ("issuer", token.issuer),
        ("audience", ", ".join(token.audience) or None),
        ("subject", token.subject),
        ("token id", token.jwt_id),
        ("key id", token.header.kid),
        ("algorithm", token.header.alg),
        ("nonce", token.nonce),
        ("laptop key", _laptop_key(token)),
        ("size", f"{token.size} bytes, sha256 {token.fingerprint}"),
    ]
    for key, value in sorted(claim.request_parameters.items()):
        if key != "nonce":
            rows.append((f"param {one_line(str(key), 40)}", str(value)))
    return [(label, one_line(value, 120)) for label, value in rows if value is not None]


def format_rows(rows: list[tuple[str, str]]) -> str:
    """Rows as an aligned two-column text block."""
    width = max((len(label) for label, _ in rows), default=0)
    return "".join(f"{label:<{width}}  {value}\n" for label, value in rows)
