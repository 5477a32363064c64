"""``endorse-testbed demo``: the whole chain on one machine, each part its own process.

fake BlueZ (the radio) -> Endorse simulator -> modem emulator -> local AWS (moto) ->
exchange -> gateway daemon (from its real entry point) -> laptop CLI obtaining
credentials. Prints the credentials (secrets masked), the SIM's IMSI and where the time
went; stops every process on the way out, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from endorse_ble.testbed.aws.env import TEST_ROLE_ARN, local_aws_env
from endorse_ble.testbed.bluez.harness import (
    running_fake_bluez,
    spawn,
    stop_process,
    subprocess_env,
)
from endorse_ble.testbed.endorse_keys import SimIdentity
from endorse_ble.testbed.gateway.process import GatewaySetup, running_gateway
from endorse_ble.testbed.modemmanager.fake import FakeModemManager
from endorse_ble.tokenlink.cli import EXIT_FAILURE, EXIT_OK

STEP_TIMEOUT = 30.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run the whole chain on this machine: gateway -> BLE -> laptop -> exchange -> "
        "AWS credentials. No radio, modem or SIM needed."
    )
    parser.add_argument(
        "--mtu", type=int, default=185, help="ATT MTU of the BLE link, 23..517 (default: 185)"
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep every process's log (printed path)"
    )
    parser.add_argument(
        "--modem-backend",
        choices=("at", "modemmanager"),
        default="at",
        help="read the modem over AT (a modem emulator on a pty, the default) or through "
        "ModemManager (a fake ModemManager on the gateway's system bus)",
    )


class Demo:
    """Starts the parts in order and reports each step on stderr."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.step = 0
        self.timings: list[tuple[str, float]] = []

    @contextlib.asynccontextmanager
    async def part(self, title: str) -> AsyncIterator[None]:
        self.step += 1
        print(f"[{self.step}/7] {title} ...", end=" ", file=sys.stderr, flush=True)
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
        self.timings.append((title, elapsed))
        print(f"ok ({elapsed:.2f} s)", file=sys.stderr, flush=True)

    @contextlib.asynccontextmanager
    async def service(
        self, name: str, env: dict[str, str], *args: str
    ) -> AsyncIterator[dict[str, str]]:
        """Run ``python -m ARGS`` until the block ends; yield its KEY=VALUE lines."""
        proc = await spawn(env, "-m", *args, stderr=self.logs / f"{name}.log")
        try:
            yield await _announced(proc, name)
        finally:
            await stop_process(proc)


async def _announced(proc: asyncio.subprocess.Process, name: str) -> dict[str, str]:
    """KEY=VALUE lines printed before READY."""
    assert proc.stdout is not None
    values: dict[str, str] = {}
    async with asyncio.timeout(STEP_TIMEOUT):
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                raise RuntimeError(f"{name} exited ({await proc.wait()}) before READY")
            line = raw.decode().strip()
            if line == "READY":
                return values
            key, eq, value = line.partition("=")
            if eq:
                values[key] = value


def exchange_config(keystore_url: str, aws_endpoint: str) -> str:
    sim = SimIdentity()
    return (
        "[keystore]\n"
        f'url = "{keystore_url}"\n'
        "[token]\n"
        "require_nonce = true\n"
        "[credentials]\n"
        "duration_seconds = 900\n"
        "[replay]\n"
        'backend = "memory"\n'
        "[aws]\n"
        'region = "us-east-1"\n'
        f'endpoint_url = "{aws_endpoint}"\n'
        "[[allow]]\n"
        f'imsi = "{sim.imsi}"\n'
        f'imei = "{sim.imei}"\n'
        f'role_arn = "{TEST_ROLE_ARN}"\n'
    )


def mask(secret: str) -> str:
    return f"{secret[:4]}...({len(secret)} chars)"


async def run_until_signalled(mtu: int, logs: Path, modem_backend: str = "at") -> int:
    """Run the demo; SIGINT or SIGTERM cancels it, its clean-up runs, and 128 + signal is
    returned.

    asyncio.run's own SIGINT handler exists only when SIGINT was at its default at start-up
    (not in a background job of a non-interactive shell), and nothing handles SIGTERM.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    received: list[int] = []

    def on_signal(signum: int) -> None:
        if not received:  # a second Ctrl-C must not cut the clean-up short
            task.cancel()
        received.append(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return await run_demo(mtu, logs, modem_backend)
    except asyncio.CancelledError:
        if not received:
            raise
        return 128 + received[0]
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def run_demo(mtu: int, logs: Path, modem_backend: str = "at") -> int:
    demo = Demo(logs)
    plain = subprocess_env("")
    async with contextlib.AsyncExitStack() as stack:
        async with demo.part(f"mock BLE adapter: fake BlueZ, ATT MTU {mtu}"):
            fake = await stack.enter_async_context(running_fake_bluez(mtu, logs))
        async with demo.part("SORACOM Endorse simulator"):
            endorse = await stack.enter_async_context(
                demo.service("endorse", plain, "testbed", "endorse")
            )
        if modem_backend == "modemmanager":
            async with demo.part("ModemManager stand-in on the gateway's system bus"):
                await stack.enter_async_context(FakeModemManager(fake.peripheral_bus))
                modem = {"MODEM_PORT": "/dev/null"}  # unused: ModemManager owns the modem
        else:
            async with demo.part("3G modem emulator on a pseudo-terminal"):
                modem = await stack.enter_async_context(
                    demo.service("modem", plain, "testbed", "modem")
                )
        async with demo.part("local AWS (moto) and the exchange"):
            aws = await stack.enter_async_context(demo.service("aws", plain, "testbed", "aws"))
            config = logs / "exchange.toml"
            config.write_text(exchange_config(endorse["KEYSTORE_URL"], aws["AWS_ENDPOINT_URL"]))
            exchange = await stack.enter_async_context(
                demo.service(
                    "exchange",
                    local_aws_env(aws["AWS_ENDPOINT_URL"], plain),
                    "exchange",
                    "serve",
                    "--config",
                    str(config),
                )
            )
        async with demo.part("gateway daemon: first token, GATT service advertised"):
            setup = GatewaySetup(
                endorse_url=endorse["ENDORSE_URL"],
                modem_port=modem["MODEM_PORT"],
                modem_backend=modem_backend,
            )
            gateway = await stack.enter_async_context(
                running_gateway(setup, fake.peripheral_bus, logs / "gateway")
            )
            ready = await gateway.notify.wait_for("READY", "1")
        async with demo.part("laptop: gateway -> fresh token over BLE -> exchange"):
            result = await _laptop(fake.central_bus, exchange["EXCHANGE_URL"], logs)
        async with demo.part("everything stopped"):
            await stack.aclose()
    if result is None:
        print(f"the laptop step failed; logs in {logs}", file=sys.stderr)
        return EXIT_FAILURE
    creds, timings = result
    print()
    print(f"gateway status:    {ready.get('STATUS', '')}")
    print(f"SIM (IMSI):        {creds['Subject']['imsi']}   IMEI {creds['Subject']['imei']}")
    print(f"AccessKeyId:       {creds['AccessKeyId']}")
    print(f"SecretAccessKey:   {mask(creds['SecretAccessKey'])}")
    print(f"SessionToken:      {mask(creds['SessionToken'])}")
    print(f"Expiration:        {creds['Expiration']}")
    print(f"laptop timings:    {timings}")
    print("setup timings:     " + ", ".join(f"{t:.2f} s" for _, t in demo.timings))
    return EXIT_OK


async def _laptop(central_bus: str, exchange_url: str, logs: Path) -> tuple[dict, str] | None:
    home = logs / "laptop-home"
    home.mkdir()
    env = subprocess_env(central_bus)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    env["XDG_CACHE_HOME"] = str(home / ".cache")
    args = ["--adapter", "hci1", "--exchange-url", exchange_url, "--json", "--timings"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "endorse_ble.central",
        "credentials",
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), STEP_TIMEOUT * 2)
    (logs / "laptop.log").write_bytes(err)
    if proc.returncode != 0:
        sys.stderr.write(err.decode())
        return None
    timings = err.decode().split("timings: ", 1)[-1].strip()
    return json.loads(out), timings


def run(args: argparse.Namespace) -> int:
    if not 23 <= args.mtu <= 517:
        print("endorse-testbed demo: --mtu must be 23..517", file=sys.stderr)
        return 2
    logs = Path(tempfile.mkdtemp(prefix="endorse-demo-"))
    code = EXIT_FAILURE
    try:
        code = asyncio.run(run_until_signalled(args.mtu, logs, args.modem_backend))
    except KeyboardInterrupt:  # a Ctrl-C before the loop's own handlers were in place
        code = 128 + signal.SIGINT
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"\nendorse-testbed demo: {exc}; logs in {logs}", file=sys.stderr)
        args.keep_logs = True
    finally:
        if args.keep_logs:
            print(f"logs: {logs}", file=sys.stderr)
        else:
            shutil.rmtree(logs, ignore_errors=True)
    if code > 128:
        print("\ninterrupted: every process was stopped", file=sys.stderr)
    return code
