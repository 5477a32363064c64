"""Counters of what crosses the emulated air, per ATT procedure and direction.

Keys (all unsigned 64-bit counts) have the form ``<kind>.<what>_<dir>`` where kind is an
:class:`~testbed.bluez.att.OpKind` value or ``total``, what is ``pdus`` or ``bytes`` and dir
is ``c2p`` (central to peripheral) or ``p2c``. Bytes are whole ATT PDUs (opcode, handle,
offset and value), so an ATT Read of a 100-byte value at MTU 23 shows as
``read.pdus_c2p=1``, ``read_blob.pdus_c2p=4`` and ``read_blob.bytes_p2c=4+22*3+12``.
Discovery, MTU exchange and link-layer traffic are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from endorse_ble.testbed.bluez.att import OpKind

DIRECTIONS = ("c2p", "p2c")


def counter_keys() -> list[str]:
    """Every key a snapshot contains, in a stable order."""
    kinds = [k.value for k in OpKind] + ["total"]
    return [f"{k}.{w}_{d}" for k in kinds for w in ("pdus", "bytes") for d in DIRECTIONS]


@dataclass
class AirCounters:
    """Mutable tallies of ATT PDUs and bytes; :meth:`snapshot` gives a plain dict."""

    _counts: dict[str, int] = field(default_factory=dict)

    def record(self, kind: OpKind, direction: str, pdu_len: int) -> None:
        """Count one PDU of ``pdu_len`` bytes sent in ``direction`` ("c2p" or "p2c")."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be c2p or p2c, not {direction!r}")
        for prefix in (kind.value, "total"):
            self._bump(f"{prefix}.pdus_{direction}", 1)
            self._bump(f"{prefix}.bytes_{direction}", pdu_len)

    def _bump(self, key: str, amount: int) -> None:
        self._counts[key] = self._counts.get(key, 0) + amount

    def reset(self) -> None:
        """Set every counter back to zero."""
        self._counts.clear()

    def snapshot(self) -> dict[str, int]:
        """All counters, zeros included."""
        return {key: self._counts.get(key, 0) for key in counter_keys()}
