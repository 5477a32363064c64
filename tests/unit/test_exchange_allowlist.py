"""The allowlist sources: the cache's TTL bounds how long a revocation takes; items parse."""

from __future__ import annotations

from typing import Any

import pytest

from endorse_ble.exchange.allowlist import CachedAllowlist
from endorse_ble.exchange.allowlist_dynamodb import entry_from_item, item_from_entry
from endorse_ble.exchange.audit import Decision, audit_line
from endorse_ble.exchange.config import AllowEntry

IMSI = "440103123456789"
JKT_A = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
JKT_B = "A" * 43


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Table:
    """An allowlist source an admin edits, counting lookups."""

    def __init__(self) -> None:
        self.entries: dict[str, AllowEntry] = {IMSI: AllowEntry(IMSI)}
        self.lookups = 0

    def lookup(self, imsi: str) -> AllowEntry | None:
        self.lookups += 1
        return self.entries.get(imsi)


def test_a_revocation_takes_effect_once_the_cache_ttl_passes() -> None:
    """Within the TTL the cached answer stands (one lookup); after it, the new one."""
    clock, table = Clock(), Table()
    cached = CachedAllowlist(table, ttl_seconds=30, max_entries=10, clock=clock)
    assert cached.lookup(IMSI) == AllowEntry(IMSI)
    table.entries[IMSI] = AllowEntry(IMSI, enabled=False)
    clock.now += 29
    assert cached.lookup(IMSI) == AllowEntry(IMSI)
    assert table.lookups == 1
    clock.now += 2
    assert cached.lookup(IMSI) == AllowEntry(IMSI, enabled=False)


def test_misses_are_cached_and_the_cache_is_bounded() -> None:
    """Unknown IMSIs are remembered too, and the oldest answers leave first."""
    clock, table = Clock(), Table()
    cached = CachedAllowlist(table, ttl_seconds=30, max_entries=2, clock=clock)
    for imsi in ("11111", "11111", "22222", "33333", "11111"):
        assert cached.lookup(imsi) is None
    assert table.lookups == 4


def test_items_round_trip() -> None:
    """An entry written as an item reads back the same (laptops in sorted order)."""
    entry = AllowEntry(
        IMSI, "356938035643809", "arn:aws:iam::1:role/r", laptops=(JKT_B, JKT_A), enabled=False
    )
    assert entry_from_item(dict(item_from_entry(entry))) == entry
    assert entry_from_item({"imsi": {"S": IMSI}}) == AllowEntry(IMSI)


@pytest.mark.parametrize(
    "item",
    [
        {},
        {"imsi": {"N": "1"}},
        {"imsi": {"S": "12"}},
        {"imsi": {"S": IMSI}, "imei": {"S": "x"}},
        {"imsi": {"S": IMSI}, "role_arn": {"S": "role"}},
        {"imsi": {"S": IMSI}, "enabled": {"S": "true"}},
        {"imsi": {"S": IMSI}, "laptops": {"L": [{"N": "1"}]}},
        {"imsi": {"S": IMSI}, "laptops": {"S": "k"}},
        {"imsi": {"S": IMSI}, "laptops": {"SS": ["not-a-thumbprint"]}},
    ],
)
def test_malformed_items_are_refused(item: dict[str, Any]) -> None:
    """An item an admin mistyped is refused, never read as a grant."""
    with pytest.raises(ValueError):
        entry_from_item(item)


def test_the_audit_line_is_one_json_object_without_the_body() -> None:
    """The audit record names the request, SIM, outcome, role and duration, nothing more."""
    decision = Decision(200, {"credentials": {"SecretAccessKey": "s3cr3t"}}, "issued", IMSI)
    line = audit_line(decision, "req-1", 0.0123)
    assert "\n" not in line and "s3cr3t" not in line
    assert line.startswith("{") and '"duration_ms":12.3' in line
