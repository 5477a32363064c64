"""Pytest plugin: a fake ModemManager on the fake BlueZ's peripheral (system) bus."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from endorse_ble.testbed.bluez.harness import FakeBluezHandle
from endorse_ble.testbed.modemmanager.fake import FakeModemManager


@pytest.fixture
async def fake_modemmanager(fake_bluez: FakeBluezHandle) -> AsyncIterator[FakeModemManager]:
    """A started :class:`FakeModemManager` where the gateway looks for the system bus."""
    async with FakeModemManager(fake_bluez.peripheral_bus) as mm:
        yield mm
