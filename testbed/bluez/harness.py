"""Run the fake BlueZ and the sample programs as subprocesses (used by tests and smoke).

Every child gets ``PR_SET_PDEATHSIG``, so nothing outlives the process that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from endorse_ble.testbed.bluez.buses import die_with_parent
from endorse_ble.testbed.bluez.control import TestbedControl
from endorse_ble.testbed.bluez.errors import FakeBluezError, FakeBluezReason

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 15.0


def subprocess_env(bus_address: str) -> dict[str, str]:
    """Environment for a process that should use ``bus_address`` as its system bus."""
    env = dict(os.environ)
    env["DBUS_SYSTEM_BUS_ADDRESS"] = bus_address
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


async def read_line_starting(
    proc: asyncio.subprocess.Process, prefix: str, limit: float = START_TIMEOUT
) -> str:
    """Read stdout lines until one starts with ``prefix``; fail on EOF or after ``limit`` s."""
    assert proc.stdout is not None
    async with asyncio.timeout(limit):
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                raise FakeBluezError(
                    FakeBluezReason.DAEMON_FAILED,
                    f"process exited ({await proc.wait()}) before printing {prefix!r}",
                )
            line = raw.decode().rstrip("\n")
            if line.startswith(prefix):
                return line


async def spawn(
    env: dict[str, str],
    *args: str,
    stderr: Path | None = None,
) -> asyncio.subprocess.Process:
    """Start ``python -m ...`` with piped stdout; it dies with this process."""
    err = stderr.open("ab") if stderr else None
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            env=env,
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=err if err else asyncio.subprocess.DEVNULL,
            stdin=asyncio.subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
    finally:
        if err:
            err.close()


async def stop_process(proc: asyncio.subprocess.Process, grace: float = 10.0) -> int:
    """SIGTERM, then SIGKILL if it does not exit in ``grace`` seconds."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    return int(proc.returncode or 0)


class FakeBluezHandle:
    """A running fake BlueZ: its buses, a control client and process helpers."""

    def __init__(
        self,
        peripheral_bus: str,
        central_bus: str,
        control: TestbedControl,
        log_dir: Path,
        mtu: int,
        laptop_buses: dict[str, str] | None = None,
    ) -> None:
        self.peripheral_bus = peripheral_bus
        self.central_bus = central_bus
        #: Adapter name -> the bus of that laptop (hci1 is on the central bus).
        self.laptop_buses = {"hci1": central_bus, **(laptop_buses or {})}
        self.control = control
        self.log_dir = log_dir
        self.mtu = mtu
        self.processes: list[asyncio.subprocess.Process] = []

    def env(self, side: str) -> dict[str, str]:
        """Subprocess environment for ``side``: "peripheral", "central" (laptop hci1), or
        a laptop's adapter name ("hci2", ...)."""
        if side == "peripheral":
            return subprocess_env(self.peripheral_bus)
        if side == "central":
            return subprocess_env(self.central_bus)
        if side in self.laptop_buses:
            return subprocess_env(self.laptop_buses[side])
        raise ValueError(f"side must be peripheral, central or a laptop adapter, not {side!r}")

    async def start_peripheral(self, *args: str) -> asyncio.subprocess.Process:
        """Start the sample bless peripheral and wait until it printed READY."""
        proc = await spawn(
            self.env("peripheral"),
            "-m",
            "endorse_ble.testbed.bluez.sample_peripheral",
            *args,
            stderr=self.log_dir / "peripheral.log",
        )
        self.processes.append(proc)
        await read_line_starting(proc, "READY")
        return proc

    async def run_central(self, *args: str, limit: float = 30.0) -> tuple[int, dict[str, Any]]:
        """Run the sample bleak central to the end: (exit status, its JSON result)."""
        proc = await spawn(
            self.env("central"),
            "-m",
            "endorse_ble.testbed.bluez.sample_central",
            *args,
            stderr=self.log_dir / "central.log",
        )
        self.processes.append(proc)
        out, _ = await asyncio.wait_for(proc.communicate(), limit)
        lines = out.decode().strip().splitlines()
        if not lines:
            raise FakeBluezError(
                FakeBluezReason.DAEMON_FAILED,
                f"the sample central exited ({proc.returncode}) without a result",
            )
        return int(proc.returncode or 0), json.loads(lines[-1])

    async def close(self) -> None:
        """Stop every process started through this handle."""
        for proc in self.processes:
            await stop_process(proc)


@contextlib.asynccontextmanager
async def running_fake_bluez(
    mtu: int, log_dir: Path, laptops: int = 1, att_timeout: float = 30.0
) -> AsyncIterator[FakeBluezHandle]:
    """Start ``python -m endorse_ble.testbed bluez``, yield a handle, stop everything afterwards."""
    proc = await spawn(
        subprocess_env(""),
        "-m",
        "endorse_ble.testbed",
        "bluez",
        "--mtu",
        str(mtu),
        "--laptops",
        str(laptops),
        "--att-timeout",
        str(att_timeout),
        stderr=log_dir / "fake-bluez.log",
    )
    try:
        peripheral = (await read_line_starting(proc, "PERIPHERAL_BUS=")).split("=", 1)[1]
        central = (await read_line_starting(proc, "CENTRAL_BUS=")).split("=", 1)[1]
        laptop_buses: dict[str, str] = {}
        for _ in range(laptops - 1):
            line = await read_line_starting(proc, "LAPTOP_BUS_")
            name, address = line.removeprefix("LAPTOP_BUS_").split("=", 1)
            laptop_buses[name] = address
        await read_line_starting(proc, "READY")
        async with TestbedControl(central) as control:
            handle = FakeBluezHandle(peripheral, central, control, log_dir, mtu, laptop_buses)
            try:
                yield handle
            finally:
                await handle.close()
    finally:
        await stop_process(proc)
