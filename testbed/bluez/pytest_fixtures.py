"""pytest plugin: a fake BlueZ per test, started as ``python -m endorse_ble.testbed bluez``.

Fixture ``fake_bluez`` yields a :class:`~testbed.bluez.harness.FakeBluezHandle` (buses,
control client, ``env`` for subprocesses, helpers to run the sample peripheral/central).
MTU 23 by default; pick another with
``@pytest.mark.parametrize("fake_bluez", [185], indirect=True)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from endorse_ble.testbed.bluez.harness import (
    FakeBluezHandle,
    read_line_starting,
    running_fake_bluez,
    spawn,
    subprocess_env,
)

__all__ = ["FakeBluezHandle", "fake_bluez", "read_line_starting", "spawn", "subprocess_env"]


@pytest.fixture
async def fake_bluez(
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> AsyncIterator[FakeBluezHandle]:
    """A fake BlueZ on two private buses (MTU from indirect parametrization, default 23)."""
    mtu = int(getattr(request, "param", 23))
    async with running_fake_bluez(mtu, tmp_path) as handle:
        yield handle
