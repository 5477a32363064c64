"""Errors the fake BlueZ raises on purpose (not the D-Bus errors it sends to clients)."""

from __future__ import annotations

import enum

from endorse_ble.tokenlink.errors import EndorseBleError


class FakeBluezReason(enum.Enum):
    """Why the fake BlueZ or its buses could not do what was asked."""

    DAEMON_MISSING = "daemon_missing"
    DAEMON_FAILED = "daemon_failed"
    NOT_STARTED = "not_started"
    CONTROL_REFUSED = "control_refused"
    TIMEOUT = "timeout"


class FakeBluezError(EndorseBleError):
    """A failure of the testbed's BlueZ stand-in; ``reason`` says which."""

    def __init__(self, reason: FakeBluezReason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"fake BlueZ: {reason.value}: {detail}")
