"""pytest plugin: the whole gateway side on the testbed, and the laptop CLI as a process.

``gateway`` starts the real daemon (``python -m endorse_ble.peripheral run``) on the fake BlueZ's
peripheral bus, fetching from the Endorse simulator over loopback and watching the modem
emulator; it yields once the daemon sent READY=1. Pass GatewaySetup fields with
``@pytest.mark.parametrize("gateway", [{"mode": "on-demand"}], indirect=True)``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from endorse_ble.testbed.bluez.harness import FakeBluezHandle
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.gateway.process import GatewayProcess, GatewaySetup, running_gateway
from endorse_ble.testbed.modem.emulator import ModemEmulator

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def gateway(
    request: pytest.FixtureRequest,
    fake_bluez: FakeBluezHandle,
    endorse_sim: EndorseSimulator,
    modem_emulator: ModemEmulator,
    tmp_path: Path,
) -> AsyncIterator[GatewayProcess]:
    """The real gateway daemon, READY, serving over the fake BlueZ."""
    overrides: dict[str, Any] = getattr(request, "param", {}) or {}
    setup = GatewaySetup(
        endorse_url=endorse_sim.url, modem_port=modem_emulator.device_path, **overrides
    )
    async with running_gateway(setup, fake_bluez.peripheral_bus, tmp_path / "gateway") as gw:
        yield gw


@dataclass(frozen=True)
class CliResult:
    """What a CLI process did."""

    returncode: int
    stdout: str
    stderr: str


def laptop_user_env(fake_bluez: FakeBluezHandle, laptop: str = "central") -> dict[str, str]:
    """The environment of a user of ``laptop`` whose HOME and XDG dirs are the test's."""
    home = fake_bluez.log_dir / "home" / ("hci1" if laptop == "central" else laptop)
    environ = {
        k: v
        for k, v in fake_bluez.env(laptop).items()
        if not k.startswith("XDG_") and k not in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")
    }
    environ.update(
        HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache")
    )
    return environ


async def run_cli(
    fake_bluez: FakeBluezHandle,
    module: str,
    *args: str,
    limit: float = 60.0,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    laptop: str = "central",
) -> CliResult:
    """Run ``python -m <module> <args>`` as a laptop process on the central bus (or on the
    bus of ``laptop``, an adapter name such as "hci2", with several laptops).

    ``env`` replaces the environment (the bus address is added to it). Without it, each
    laptop's user has a home of their own under the test's directory: the CLI's config,
    cache and gateway locks are never the machine's (every test run on the machine would
    otherwise share one gateway lock, and wait for each other's runs).
    """
    environ = dict(env) if env is not None else laptop_user_env(fake_bluez, laptop)
    environ.update(
        {
            k: v
            for k, v in fake_bluez.env(laptop).items()
            if k.startswith(("DBUS_SYSTEM_BUS_ADDRESS", "PYTHONPATH"))
        }
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        env=environ,
        cwd=REPO_ROOT,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return CliResult(int(proc.returncode or 0), out.decode(), err.decode())
