"""Journal lines per 1000 refused challenge writes, at the default level (INFO).

Runs the real daemon on the testbed, then a central that writes 1000 malformed nonces
(wrong length, wrong alphabet) to Challenge, each answered with an ATT error, and counts
the lines the daemon logged meanwhile. Target: at most 10 lines per 1000 refused writes
(the issue's 20 for 2000), none of them a traceback. Baseline in the same run: the lines
logged for one successful token read, so the ratio shows the flood costs about as much
journal as normal use. Prints lines/target (must be <= 1.0; exit status 1 otherwise).

    python -m bench.refused_writes_log     (BENCH_QUICK=1: 200 writes, not gated)
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from bench import iterations, verdict
from endorse_ble.testbed.bluez.harness import running_fake_bluez
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.gateway.process import GatewaySetup, running_gateway
from endorse_ble.testbed.modem.emulator import ModemEmulator
from endorse_ble.tokenlink import profile

TARGET_LINES_PER_1000 = 10.0
BAD_NONCES = (b"short", b"x" * 65, b"has spaces!!", b"\xff" * 16)


async def measure(writes: int, logs: Path) -> tuple[int, int, bool]:
    """(lines logged for the refused writes, lines for one good read, any traceback)."""
    with EndorseSimulator() as sim, ModemEmulator(seed=1) as modem:
        async with running_fake_bluez(185, logs) as fake:
            setup = GatewaySetup(endorse_url=sim.url, modem_port=modem.device_path)
            async with running_gateway(setup, fake.peripheral_bus, logs / "gw") as gateway:
                before = len(gateway.log_text().splitlines())
                good = f"read:{profile.INFO_UUID}"
                await fake.run_central("--service", profile.SERVICE_UUID, "--op", good)
                after_good = len(gateway.log_text().splitlines())
                ops = [
                    f"write:{profile.CHALLENGE_UUID}:{BAD_NONCES[i % len(BAD_NONCES)].hex()}"
                    for i in range(writes)
                ]
                args = [arg for op in ops for arg in ("--op", op)]
                await fake.run_central(
                    "--service", profile.SERVICE_UUID, "--keep-going", *args, limit=300
                )
                lines = gateway.log_text().splitlines()
    flood = lines[after_good:]
    return len(flood), after_good - before, any("Traceback" in line for line in flood)


def main() -> int:
    writes = iterations(2000, 200)
    with tempfile.TemporaryDirectory(prefix="bench-refused-") as scratch:
        flood, baseline, traceback = asyncio.run(measure(writes, Path(scratch)))
    per_1000 = flood * 1000 / writes
    ratio = per_1000 / TARGET_LINES_PER_1000
    print(f"refused challenge writes: {writes}, journal lines: {flood} ({per_1000:.1f} per 1000)")
    print(f"  baseline: {baseline} lines for one good read; traceback: {traceback}")
    print(f"  lines per 1000 / target ({TARGET_LINES_PER_1000:.0f}) = {ratio:.2f} (must be <= 1.0)")
    return verdict(ratio <= 1.0 and not traceback)


if __name__ == "__main__":
    sys.exit(main())
