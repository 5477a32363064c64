"""The real gateway daemon as a child process, watched through a real NOTIFY_SOCKET.

Used by the integration tests, the benchmarks and the demo: it writes a config for the
testbed stand-ins, starts ``python -m endorse_ble.peripheral run`` (the entry point systemd starts)
and listens on a private notify socket, so "ready" is the daemon's own READY=1.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from endorse_ble.peripheral.settings import RefreshSettings
from endorse_ble.testbed.bluez.harness import spawn, stop_process, subprocess_env

READY_TIMEOUT = 30.0


@dataclass(frozen=True)
class GatewaySetup:
    """What the generated config points the daemon at."""

    endorse_url: str
    modem_port: str
    name: str = "endorse-testbed"
    adapter: str = "hci0"
    mode: str = "prefetch"
    require_encryption: bool = False
    log_level: str = "INFO"
    read_timeout: float = 5.0
    # Quick retries keep fault-and-recovery tests short; the product default is 2 s.
    backoff_initial: float = 0.3
    backoff_max: float = 3.0
    modem_poll_interval: float = 60.0
    # Fresh-token requests (challenges) allowed at once: the product's budget unless raised.
    challenge_burst: int = RefreshSettings.challenge_burst
    # "at" reads the modem emulator's pty; "modemmanager" a fake ModemManager on the bus.
    modem_backend: str = "at"
    #: Other [refresh] challenge budgets; None leaves the product default.
    challenge_ceiling_per_hour: int | None = None
    bonded_challenge_burst: int | None = None
    #: [ble] pairing_passkey; None: Just Works.
    pairing_passkey: int | None = None

    def _budgets(self) -> str:
        names = ("challenge_ceiling_per_hour", "bonded_challenge_burst")
        values = ((name, getattr(self, name)) for name in names)
        return "".join(f"{name} = {value}\n" for name, value in values if value is not None)

    def config_toml(self) -> str:
        """A gateway config for the testbed (the cellular link is loopback here)."""
        encryption = "true" if self.require_encryption else "false"
        return (
            "[endorse]\n"
            f'url = "{self.endorse_url}"\n'
            "connect_timeout_seconds = 2.0\n"
            f"read_timeout_seconds = {self.read_timeout}\n"
            "[cellular]\n"
            "# The testbed's Endorse simulator listens on loopback.\n"
            'source_address = "127.0.0.1"\n'
            "[modem]\n"
            f'backend = "{self.modem_backend}"\n'
            f'port = "{self.modem_port}"\n'
            "command_timeout_seconds = 1.0\n"
            f"poll_interval_seconds = {self.modem_poll_interval}\n"
            "[refresh]\n"
            f'mode = "{self.mode}"\n'
            f"backoff_initial_seconds = {self.backoff_initial}\n"
            f"backoff_max_seconds = {self.backoff_max}\n"
            f"challenge_burst = {self.challenge_burst}\n"
            f"{self._budgets()}"
            "[ble]\n"
            f'adapter = "{self.adapter}"\n'
            f'name = "{self.name}"\n'
            f"require_encryption = {encryption}\n"
            + (
                ""
                if self.pairing_passkey is None
                else f"pairing_passkey = {self.pairing_passkey}\n"
            )
            + "[log]\n"
            f'level = "{self.log_level}"\n'
        )


class NotifyListener:
    """A datagram socket standing in for systemd's notify socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[dict[str, str]] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.setblocking(False)
        self._arrived = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._receive())

    async def _receive(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = await loop.sock_recv(self._sock, 4096)
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            async with self._arrived:
                self.messages.append(fields)
                self._arrived.notify_all()

    async def wait_for(
        self, key: str, value: str | None = None, within: float = 30.0
    ) -> dict[str, str]:
        """The first message (old or new) carrying ``key`` (equal to ``value`` if given)."""
        return await self.wait_for_match(key, lambda v: value is None or v == value, within)

    async def wait_for_match(
        self, key: str, accept: Callable[[str], bool], within: float = 30.0, after: int = 0
    ) -> dict[str, str]:
        """The first message (old or new, from index ``after`` on) whose ``key`` value
        ``accept`` accepts."""

        def match() -> dict[str, str] | None:
            for message in self.messages[after:]:
                if key in message and accept(message[key]):
                    return message
            return None

        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: match() is not None)
            found = match()
            assert found is not None
            return found

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._sock.close()


@dataclass(frozen=True)
class PairResult:
    """What ``endorse-peripheral pair`` did."""

    returncode: int
    stdout: str
    stderr: str


class GatewayProcess:
    """A running ``endorse-peripheral run``; its log, notify messages and signals."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        notify: NotifyListener,
        log_path: Path,
        control_socket: Path,
        env: dict[str, str],
    ) -> None:
        self.proc = proc
        self.notify = notify
        self.log_path = log_path
        #: The daemon's control socket (in the RuntimeDirectory the harness gives it).
        self.control_socket = control_socket
        self._env = env

    async def pair(self, *args: str, limit: float = 60.0) -> PairResult:
        """Run the real ``endorse-peripheral pair ARGS`` against this daemon."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "endorse_ble.peripheral", "pair",
            "--socket", str(self.control_socket), *args,
            env=self._env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), limit)
        return PairResult(int(proc.returncode or 0), out.decode(), err.decode())

    async def open_pairing(self, seconds: int = 60) -> None:
        """Open a pairing window and wait for STATUS to show it."""
        result = await self.pair("--open", str(seconds))
        assert result.returncode == 0, result.stderr
        await self.notify.wait_for_match("STATUS", lambda s: s.startswith("pairing open until"))

    def log_text(self) -> str:
        """Everything the daemon logged so far."""
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    async def stop(self) -> int:
        """SIGTERM and wait; returns the exit status."""
        return await stop_process(self.proc)


@contextlib.asynccontextmanager
async def running_gateway(
    setup: GatewaySetup,
    peripheral_bus: str,
    log_dir: Path,
    *,
    watchdog_usec: int | None = None,
) -> AsyncIterator[GatewayProcess]:
    """Start the daemon on ``peripheral_bus``; stop it (SIGTERM) when the block ends."""
    log_dir.mkdir(parents=True, exist_ok=True)
    config = log_dir / "gateway.toml"
    config.write_text(setup.config_toml())
    # A short private path: sun_path is limited to 108 bytes. The directory also stands in
    # for the unit's RuntimeDirectory (systemd passes it as $RUNTIME_DIRECTORY).
    with tempfile.TemporaryDirectory(prefix="gw-notify-") as notify_dir:
        notify = NotifyListener(Path(notify_dir) / "notify")
        notify.start()
        env = subprocess_env(peripheral_bus)
        env["NOTIFY_SOCKET"] = str(notify.path)
        env["RUNTIME_DIRECTORY"] = notify_dir
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        log_path = log_dir / "gateway.log"
        proc = await spawn(
            env, "-m", "endorse_ble.peripheral", "run", "--config", str(config), stderr=log_path
        )
        gateway = GatewayProcess(proc, notify, log_path, Path(notify_dir) / "control.sock", env)
        try:
            await _ready_or_exit(gateway)
            yield gateway
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            await stop_process(proc)
            await notify.close()


async def _ready_or_exit(gateway: GatewayProcess) -> None:
    ready = asyncio.ensure_future(gateway.notify.wait_for("READY", "1", READY_TIMEOUT))
    exited = asyncio.ensure_future(gateway.proc.wait())
    done, _ = await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
    if ready not in done:
        ready.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ready
        raise RuntimeError(
            f"the gateway exited ({gateway.proc.returncode}) before READY:\n{gateway.log_text()}"
        )
    exited.cancel()
    ready.result()
