"""A ``Modem`` whose reported health a test sets: the radio link, without the radio."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from endorse_ble.peripheral.ports import ModemHealth, ModemIdentity, ModemSnapshot, Registration


class ModemPortBusy(Exception):
    """What the stand-in raises from health() while ``broken`` (like an AT timeout)."""


@dataclass
class SettableModem:
    """Reports ``registration`` (settable at any time) and counts health() calls."""

    registration: Registration = Registration.HOME
    broken: bool = False
    imsi: str = "440103123456789"
    health_calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def identity(self) -> ModemIdentity:
        return ModemIdentity(imei="356938035643809", imsi=self.imsi, iccid=None)

    def health(self) -> ModemHealth:
        with self._lock:
            self.health_calls += 1
            if self.broken:
                raise ModemPortBusy("AT port busy (simulated)")
            return ModemHealth(self.registration, signal_dbm=-71, operator="SORACOM")

    def latest(self) -> ModemSnapshot | None:
        """The reading a modem watch would hold now (the NetworkView seam); None while
        ``broken``, as when no poll has succeeded."""
        try:
            health = self.health()
        except ModemPortBusy:
            return None
        return ModemSnapshot(health, self.identity(), taken_at=0.0)
