"""Pytest plugin: a started modem emulator on a pseudo-terminal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from endorse_ble.testbed.modem.emulator import ModemEmulator


@pytest.fixture
def modem_emulator() -> Iterator[ModemEmulator]:
    """A started :class:`ModemEmulator` (home network, echo on, no URCs), stopped after."""
    with ModemEmulator(seed=1) as emulator:
        yield emulator
