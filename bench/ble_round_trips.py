"""ATT round trips to move one token over BLE, against the floor ceil(bytes / (MTU - 1)).

Runs the real daemon (bless) and the real ``endorse-central token`` (bleak) over the
fake BlueZ, which counts every ATT request. For MTU 23, 185 and 517 and tokens of about
800 bytes and 2 KiB, prints the reads one token read costs (Info plus the pages) next to
the floor computed on the JWT's length. Target: at most floor + 2 (exit status 1 if not).

    python -m bench.ble_round_trips
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench import QUICK, verdict
from endorse_ble.testbed.bluez.harness import FakeBluezHandle, running_fake_bluez
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.gateway.process import GatewayProcess, GatewaySetup, running_gateway
from endorse_ble.testbed.gateway.pytest_fixtures import run_cli
from endorse_ble.testbed.modem.emulator import ModemEmulator
from endorse_ble.tokenlink import profile

MTUS = (23, 185, 517) if not QUICK else (185,)
SIZES = {"800 B": 0, "2 KiB": 900}  # padding claim bytes added by the simulator
TOKEN_CMD = ("endorse_ble.central", "token", "--adapter", "hci1", "-q")


async def _serve_padded(gateway: GatewayProcess, old_sha: str) -> str:
    gateway.signal(signal.SIGUSR1)
    message = await gateway.notify.wait_for_match(
        "STATUS", lambda s: "sha256 " in s and old_sha not in s
    )
    return message["STATUS"].split("sha256 ")[1][:12]


async def _measure(fake: FakeBluezHandle, mtu: int) -> tuple[str, int, int, float]:
    await fake.control.set_mtu(mtu)
    await fake.control.reset_counters()
    started = time.perf_counter()
    result = await run_cli(fake, *TOKEN_CMD)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"endorse-central token failed: {result.stderr}")
    counters = await fake.control.counters()
    reads = counters.get("read.pdus_c2p", 0) + counters.get("read_blob.pdus_c2p", 0)
    wire = counters.get("read.bytes_p2c", 0) + counters.get("read_blob.bytes_p2c", 0)
    return result.stdout.strip(), reads, wire, elapsed


async def main_async() -> int:
    rows: list[tuple[str, int, int, int, int, int, int, float]] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ble-")))
        sim = stack.enter_context(EndorseSimulator())
        modem = stack.enter_context(ModemEmulator())
        async with running_fake_bluez(23, tmp) as fake:
            setup = GatewaySetup(endorse_url=sim.url, modem_port=modem.device_path)
            async with running_gateway(setup, fake.peripheral_bus, tmp / "gw") as gw:
                ready = await gw.notify.wait_for("READY", "1")
                sha = ready["STATUS"].split("sha256 ")[1][:12]
                for label, padding in SIZES.items():
                    if padding:
                        sim.padding_bytes = padding
                        sha = await _serve_padded(gw, sha)
                    for mtu in MTUS:
                        token, reads, wire, elapsed = await _measure(fake, mtu)
                        encoded = len(profile.encode_token(token)[1])
                        floor = math.ceil(len(token) / (mtu - 1))
                        rows.append((label, mtu, len(token), encoded, floor, reads, wire, elapsed))
    print("ATT reads to move one token (Info + pages), fake BlueZ counters")
    header = ("token", "MTU", "JWT B", "wire B", "floor", "reads", "reads-floor", "PDU B", "s")
    print("{:>6} {:>4} {:>6} {:>6} {:>5} {:>5} {:>11} {:>6} {:>5}".format(*header))
    worst = -math.inf
    for label, mtu, size, encoded, floor, reads, wire, elapsed in rows:
        worst = max(worst, reads - floor)
        print(
            f"{label:>6} {mtu:>4} {size:>6} {encoded:>6} {floor:>5} {reads:>5} "
            f"{reads - floor:>+11} {wire:>6} {elapsed:>5.2f}"
        )
    print("floor = ceil(JWT bytes / (MTU - 1)); target: reads <= floor + 2")
    ok = worst <= 2
    print(f"worst reads - floor: {worst:+d}  ->  {'PASS' if ok else 'FAIL'}")
    return verdict(ok)


def main() -> None:
    sys.exit(asyncio.run(main_async()))


if __name__ == "__main__":
    main()
