"""pytest plugin: a fake BlueZ per test, started as ``python -m endorse_ble.testbed bluez``.

Fixture ``fake_bluez`` yields a :class:`~testbed.bluez.harness.FakeBluezHandle` (buses,
control client, ``env`` for subprocesses, helpers to run the sample peripheral/central).
MTU 23 by default; pick another with
``@pytest.mark.parametrize("fake_bluez", [185], indirect=True)``, or pass a dict
(``{"mtu": 23, "laptops": 3, "att_timeout": 2.0}``) for several laptops (hci1..hciN) or a
shorter ATT transaction timeout.
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
    param = getattr(request, "param", 23)
    options = dict(param) if isinstance(param, dict) else {"mtu": int(param)}
    async with running_fake_bluez(
        int(options.get("mtu", 23)),
        tmp_path,
        laptops=int(options.get("laptops", 1)),
        att_timeout=float(options.get("att_timeout", 30.0)),
    ) as handle:
        yield handle
