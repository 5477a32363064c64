"""The status and token views format hostile gateway data safely."""

from __future__ import annotations

import pytest

from endorse_ble.central.status_view import info_json, status_lines
from endorse_ble.central.token_view import duration
from endorse_ble.tokenlink import profile

INFO = profile.InfoRecord(
    version=1,
    encoding=profile.Encoding.COMPACT,
    token_state=profile.TokenState.READY,
    challenge_state=profile.ChallengeState.IDLE,
    page_count=2,
    generation=7,
    total_length=600,
    page_size=512,
    expires_at=1_700_000_600,
    hash_prefix=0x1A2B3C4D,
    nonce_tag=0,
)


def test_status_lines_from_the_documented_example() -> None:
    """The docs/protocol.md example shows age, expiry, fetches, modem and error."""
    status = {
        "v": 1,
        "gw": "endorse-gw",
        "token": {
            "state": "ready",
            "exp": 1700000600,
            "iat": 1700000000,
            "fetches": 12,
            "len": 812,
        },
        "challenge": {"state": "idle"},
        "modem": {"reg": "home", "dbm": -71, "op": "SORACOM"},
        "error": None,
    }
    rows = dict(status_lines(INFO, status, 1_700_000_060, "endorse-gw"))
    assert rows["token"] == (
        "ready, 812 bytes (JWT), 600 bytes over BLE, expires 2023-11-14T22:23:20Z (9m 00s), "
        "age 1m 00s, 12 fetches"
    )
    assert rows["modem"] == "home, -71 dBm, SORACOM"
    assert rows["last error"] == "none"


@pytest.mark.parametrize(
    "status",
    [
        {},
        {"token": "nope", "modem": [1, 2], "error": 5},
        {"token": {"iat": "x", "fetches": True}, "modem": {"dbm": {"a": 1}}},
        {"error": "\x1b[2Jcleared\nscreen", "modem": {"op": "\x07bell"}},
    ],
)
def test_status_lines_survive_hostile_records(status: dict[str, object]) -> None:
    """Missing keys, wrong types and control characters never crash or reach the terminal."""
    rows = status_lines(INFO, status, 1_700_000_000, "gw")
    assert all(value.isprintable() for _, value in rows)


def test_info_json() -> None:
    """The info record becomes plain JSON values."""
    assert info_json(INFO)["token_state"] == "ready"
    assert info_json(INFO)["hash_prefix"] == "1a2b3c4d"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.9, "59s"), (61, "1m 01s"), (3723, "1h 02m 03s"), (-5, "expired 5s ago")],
)
def test_duration(seconds: float, text: str) -> None:
    """Durations read naturally."""
    assert duration(seconds) == text


def test_refusals_show_why_and_the_wait() -> None:
    """Status ``refused`` (docs/protocol.md): why, and when the next is allowed."""
    status = {
        "refused": [
            {"tag": 1, "why": "budget", "next_in": 40},
            {"tag": 2, "why": "ceiling"},
            {"tag": 3, "why": ["not", "text"]},
        ]
    }
    rows = dict(status_lines(INFO, status, 1_700_000_060, "gw"))
    assert rows["refused"] == "budget (next in 40 s); ceiling"
    assert "refused" not in dict(status_lines(INFO, {"refused": []}, 1_700_000_060, "gw"))
