"""CPU and memory of an idle gateway daemon (prefetch mode, no central connected).

Runs the real daemon on the testbed and reads its CPU time and peak RSS from /proc:
  - an idle window, with the modem polled every 10 s (six times the default, so the
    estimate is pessimistic), gives the idle CPU rate;
  - forced refreshes (SIGUSR1) give the CPU cost of one token fetch;
  - CPU seconds per hour = idle rate x 3600 + 7.5 fetches x cost per fetch.
Baseline in the same run: an idle Python process that imports what the daemon imports
(bless, dbus_next, requests, serial), for the RSS ratio.
Target: under 36 CPU seconds per hour (1 % of one core); exit status 1 if missed.

    python -m bench.idle_gateway
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from pathlib import Path

from bench import iterations, verdict
from endorse_ble.testbed.bluez.harness import running_fake_bluez
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.gateway.process import GatewaySetup, running_gateway
from endorse_ble.testbed.modem.emulator import ModemEmulator

IDLE_SECONDS = float(iterations(20, 2))
FETCHES = iterations(5, 1)
FETCHES_PER_HOUR = 3600 / (0.8 * 600)
TARGET_CPU_SECONDS_PER_HOUR = 36.0
BASELINE = (
    "import asyncio, bless, dbus_next, requests, serial, cryptography; "
    "asyncio.run(asyncio.sleep(600))"
)
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (proc(5), /proc/pid/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the peak resident set size of ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def _served_sha(message: dict[str, str]) -> str | None:
    status = message.get("STATUS", "")
    return status.split("sha256 ")[1][:12] if "sha256 " in status else None


def _new_token(status: str, old: frozenset[str | None]) -> bool:
    # A status without a token (a refresh under way) is not a new token being served.
    sha = _served_sha({"STATUS": status})
    return sha is not None and sha not in old


async def main_async() -> int:
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-idle-")))
        sim = stack.enter_context(EndorseSimulator())
        modem = stack.enter_context(ModemEmulator())
        baseline = await asyncio.create_subprocess_exec(sys.executable, "-c", BASELINE)
        async with running_fake_bluez(23, tmp) as fake:
            setup = GatewaySetup(
                endorse_url=sim.url, modem_port=modem.device_path, modem_poll_interval=10.0
            )
            async with running_gateway(
                setup, fake.peripheral_bus, tmp / "gw", watchdog_usec=30_000_000
            ) as gw:
                pid = gw.proc.pid
                start = cpu_seconds(pid)
                await asyncio.sleep(IDLE_SECONDS)  # the thing measured is idleness itself
                idle = cpu_seconds(pid) - start
                requests_before = sim.token_requests
                start = cpu_seconds(pid)
                served = {_served_sha(m) for m in gw.notify.messages} - {None}
                for _ in range(FETCHES):
                    gw.signal(signal.SIGUSR1)
                    message = await gw.notify.wait_for_match(
                        "STATUS", lambda s, old=frozenset(served): _new_token(s, old)
                    )
                    served.add(_served_sha(message))
                fetched = sim.token_requests - requests_before
                per_fetch = (cpu_seconds(pid) - start) / max(1, fetched)
                daemon_rss = peak_rss_mib(pid)
        base_rss = peak_rss_mib(baseline.pid)
        baseline.kill()
        await baseline.wait()
    per_hour = idle / IDLE_SECONDS * 3600 + FETCHES_PER_HOUR * per_fetch
    print(
        f"idle window {IDLE_SECONDS:.0f} s: {idle * 1000:.0f} ms CPU "
        f"(modem polled every 10 s; /proc resolution {1000 / TICKS:.0f} ms)"
    )
    print(f"one token fetch: {per_fetch * 1000:.1f} ms CPU ({fetched} fetches measured)")
    print(
        f"CPU per hour: {per_hour:.1f} s = {per_hour / 36:.2f} % of one core "
        f"(target < {TARGET_CPU_SECONDS_PER_HOUR:.0f} s)"
    )
    print(
        f"peak RSS: daemon {daemon_rss:.1f} MiB, baseline (same imports, idle) "
        f"{base_rss:.1f} MiB, ratio {daemon_rss / base_rss:.2f}"
    )
    ok = per_hour < TARGET_CPU_SECONDS_PER_HOUR
    print("PASS" if ok else "FAIL")
    return verdict(ok)


def main() -> None:
    sys.exit(asyncio.run(main_async()))


if __name__ == "__main__":
    main()
