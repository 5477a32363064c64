"""``endorse-testbed smoke``: check the mock BLE adapter end to end.

Starts the fake BlueZ, the sample bless peripheral and the sample bleak central in
separate processes; the central scans, connects, reads, writes with and without response
and receives a notification. Prints a short verdict with the air counters on stdout.
Exit status 0 on success, 1 on failure; every process is stopped and every socket removed,
also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from endorse_ble.testbed.bluez import att
from endorse_ble.testbed.bluez.errors import FakeBluezError
from endorse_ble.testbed.bluez.harness import running_fake_bluez
from endorse_ble.testbed.bluez.sample_profile import NOTIFY_PREFIX, pattern

logger = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``endorse-testbed smoke``."""
    parser.add_argument("--mtu", type=int, default=att.MIN_MTU, help="ATT MTU (default 23)")
    parser.add_argument(
        "--read-size", type=int, default=20, help="bytes in the read characteristic (default 20)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="overall limit in seconds")


def verdict(
    result: dict[str, Any], counters: dict[str, int], read_size: int, mtu: int
) -> tuple[bool, list[str]]:
    """Judge the central's result; return success and the lines to print."""
    by_op = {r["op"]: r for r in result.get("results", [])}
    problems = []
    if not result.get("ok"):
        problems.append(f"central failed: {result.get('error') or result.get('results')}")
    read = bytes.fromhex(by_op.get("read", {}).get("value", ""))
    expected = att.simulate_read_long(lambda _o: pattern(read_size), mtu).value
    if "read" in by_op and read != expected:
        problems.append("read value differs from what BlueZ's Read Blob loop yields")
    if bytes.fromhex(by_op.get("notify", {}).get("value", "")) != NOTIFY_PREFIX + b"ping":
        problems.append("no notification with the expected value")
    intact = "intact" if read == pattern(read_size) else "a repeated prefix (stock bless)"
    lines = [
        f"smoke: {'OK' if not problems else 'FAILED'} at ATT MTU {mtu}",
        f"  read {len(read)} bytes ({intact}), writes with/without response, 1 notification",
        f"  ATT PDUs central->peripheral: {counters['total.pdus_c2p']} "
        f"({counters['total.bytes_c2p']} bytes); peripheral->central: "
        f"{counters['total.pdus_p2c']} ({counters['total.bytes_p2c']} bytes)",
        f"  reads {counters['read.pdus_c2p']} + read blobs {counters['read_blob.pdus_c2p']}, "
        f"write requests {counters['write_req.pdus_c2p']}, "
        f"write commands {counters['write_cmd.pdus_c2p']}, "
        f"notifications {counters['notification.pdus_p2c']}",
        *[f"  problem: {p}" for p in problems],
    ]
    return not problems, lines


async def smoke(args: argparse.Namespace, log_dir: Path) -> int:
    """Run the three processes and print the verdict."""
    async with running_fake_bluez(args.mtu, log_dir) as fake:
        await fake.start_peripheral("--read-size", str(args.read_size))
        await fake.control.reset_counters()
        # The central's default operations: read, write, write without response, notify.
        _status, result = await fake.run_central()
        counters = await fake.control.counters()
    ok, lines = verdict(result, counters, args.read_size, args.mtu)
    sys.stdout.write("\n".join(lines) + "\n")
    if not ok:
        sys.stdout.write(f"  logs were in {log_dir}\n")
    return 0 if ok else 1


def run(args: argparse.Namespace) -> int:
    """Entry point of ``endorse-testbed smoke``."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        att.check_mtu(args.mtu)
    except ValueError as err:
        sys.stderr.write(f"smoke: {err}\n")
        return 2
    with tempfile.TemporaryDirectory(prefix="endorse-smoke-") as tmp:
        try:
            return asyncio.run(asyncio.wait_for(smoke(args, Path(tmp)), args.timeout))
        except KeyboardInterrupt:
            sys.stderr.write("smoke: interrupted, everything stopped\n")
            return 1
        except (TimeoutError, FakeBluezError, OSError) as err:
            sys.stdout.write(f"smoke: FAILED: {err}\n")
            return 1
