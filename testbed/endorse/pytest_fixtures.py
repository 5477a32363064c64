"""Pytest plugin: a running Endorse simulator for tests that talk HTTP to "Endorse"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from endorse_ble.testbed.endorse.server import EndorseSimulator


@pytest.fixture
def endorse_sim() -> Iterator[EndorseSimulator]:
    """A started :class:`EndorseSimulator` on 127.0.0.1 (any free port), stopped after."""
    with EndorseSimulator() as sim:
        yield sim
