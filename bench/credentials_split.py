"""Where an uncached ``endorse-central credentials`` spends its time on the testbed.

Runs the real laptop CLI (bleak) against the real gateway daemon (bless) over the fake
BlueZ and the real exchange on moto, several times, and prints the median seconds of each
step (scan, connect, read a fresh nonce-bound token, exchange) and of the whole process,
next to ``python3 -c pass`` measured in the same run.

    python -m bench.credentials_split
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import iterations
from endorse_ble.testbed.aws.env import local_aws_env
from endorse_ble.testbed.bluez.harness import (
    read_line_starting,
    running_fake_bluez,
    spawn,
    stop_process,
    subprocess_env,
)
from endorse_ble.testbed.demo import exchange_config
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.gateway.process import GatewaySetup, running_gateway
from endorse_ble.testbed.gateway.pytest_fixtures import run_cli
from endorse_ble.testbed.modem.emulator import ModemEmulator

RUNS = iterations(7, 2)


def _python_startup() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


async def main_async() -> int:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log

    splits: list[dict[str, float]] = []
    totals: list[float] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-creds-")))
        sim = stack.enter_context(EndorseSimulator())
        modem = stack.enter_context(ModemEmulator())
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        config = tmp / "exchange.toml"
        config.write_text(exchange_config(sim.keystore_url, endpoint))
        async with contextlib.AsyncExitStack() as processes:
            exchange = await spawn(
                local_aws_env(endpoint, subprocess_env("")),
                "-m",
                "endorse_ble.exchange",
                "serve",
                "--config",
                str(config),
            )
            processes.push_async_callback(stop_process, exchange)
            url = (await read_line_starting(exchange, "EXCHANGE_URL=")).split("=", 1)[1]
            fake = await processes.enter_async_context(running_fake_bluez(185, tmp))
            # Each run asks for a fresh nonce-bound token: a challenge each, more than the
            # default budget (3, then 1 a minute) allows in a benchmark's minute.
            setup = GatewaySetup(
                endorse_url=sim.url, modem_port=modem.device_path, challenge_burst=RUNS
            )
            async with running_gateway(setup, fake.peripheral_bus, tmp / "gw"):
                for run in range(RUNS):
                    home = tmp / f"home{run}"
                    env = {**subprocess_env(""), "HOME": str(home)}
                    env["XDG_CACHE_HOME"] = str(home / "cache")
                    env["XDG_CONFIG_HOME"] = str(home / "config")
                    started = time.perf_counter()
                    result = await run_cli(
                        fake,
                        "endorse_ble.central",
                        "credentials",
                        "--adapter",
                        "hci1",
                        "--exchange-url",
                        url,
                        "--json",
                        "--timings",
                        env=env,
                    )
                    totals.append(time.perf_counter() - started)
                    if result.returncode != 0:
                        print(result.stderr, file=sys.stderr)
                        return 1
                    assert json.loads(result.stdout)["AccessKeyId"]
                    line = result.stderr.split("timings: ", 1)[1].strip()
                    splits.append({p.split()[0]: float(p.split()[1]) for p in line.split(", ")})
    startup = statistics.median(_python_startup() for _ in range(RUNS))
    print(f"uncached `endorse-central credentials`, median of {RUNS} runs, ATT MTU 185")
    for step in splits[0]:
        print(f"  {step:<9} {statistics.median(s[step] for s in splits):6.3f} s")
    total = statistics.median(totals)
    steps = statistics.median(sum(split.values()) for split in splits)
    print(f"  {'other':<9} {total - steps:6.3f} s (interpreter start, imports, output)")
    print(f"  {'whole':<9} {total:6.3f} s (process start to exit)")
    print(f"  python3 -c pass: {startup:.3f} s; whole / startup = {total / startup:.1f}")
    return 0


def main() -> None:
    sys.exit(asyncio.run(main_async()))


if __name__ == "__main__":
    main()
