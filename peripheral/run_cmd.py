"""``endorse-peripheral run``: the gateway daemon's entry point (what systemd starts).

Signals: SIGTERM/SIGINT stop cleanly; SIGHUP re-reads the configuration (an invalid one
is refused and the old one kept); SIGUSR1 fetches a fresh token now.

Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 1 when the daemon cannot run
(no Bluetooth adapter, BlueZ refused the application), 2 for a bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal
import sys
from typing import TYPE_CHECKING

from endorse_ble.peripheral.config import DEFAULT_CONFIG, load_config
from endorse_ble.peripheral.errors import ConfigError, PeripheralError
from endorse_ble.peripheral.settings import BleSettings, GatewayConfig
from endorse_ble.tokenlink.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from endorse_ble.peripheral.at_modem import AtModem
    from endorse_ble.peripheral.bluez_pairing import BluezPairing
    from endorse_ble.peripheral.daemon import GatewayDaemon
    from endorse_ble.peripheral.endorse_client import EndorseClient
    from endorse_ble.peripheral.gatt_server import TokenGattServer
    from endorse_ble.peripheral.gatt_view import GattEvents
    from endorse_ble.peripheral.mm_modem import MmModem
    from endorse_ble.peripheral.pairing_service import AgentPolicy, PairingService
    from endorse_ble.peripheral.sd_notify import SdNotifier

log = logging.getLogger("endorse_ble.peripheral")

#: Most time shutting down may spend closing a pairing window (BlueZ's own PairableTimeout
#: closes it a few seconds later should this not suffice).
PAIRING_STOP_SECONDS = 3.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = "Run the gateway: fetch Endorse tokens and serve them over BLE."
    parser.epilog = (
        "signals: SIGTERM/SIGINT stop, SIGHUP reloads the configuration, "
        "SIGUSR1 fetches a fresh token now"
    )
    parser.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        metavar="PATH",
        help="TOML configuration (default: %(default)s; see config.example.toml)",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        help="override the config file's [log] level, also across reloads",
    )


def _setup_logging(level: str) -> None:
    # systemd puts stderr in the journal with its own timestamps: keep lines short there.
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    if not sys.stderr.isatty():
        fmt = "%(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr)
    # urllib3 logs each request line at DEBUG, and a challenge's nonce is in its query
    # string: no nonce in any log at any level, so urllib3 speaks only of real trouble.
    logging.getLogger("urllib3").setLevel(logging.WARNING)


class RealParts:
    """The adapters for real hardware and network: requests, pyserial, bless."""

    def token_source(self, config: GatewayConfig) -> EndorseClient:
        from endorse_ble.peripheral.endorse_client import EndorseClient

        return EndorseClient(config.endorse, config.cellular)

    def modem(self, config: GatewayConfig) -> AtModem | MmModem:
        if config.modem.backend == "modemmanager":
            from endorse_ble.peripheral.mm_modem import MmModem

            return MmModem(config.modem)
        from endorse_ble.peripheral.at_modem import AtModem

        return AtModem(config.modem)

    def gatt(self, config: GatewayConfig, events: GattEvents) -> TokenGattServer:
        from endorse_ble.peripheral.gatt_server import TokenGattServer

        return TokenGattServer(config.ble, events)

    def pairing(self, config: GatewayConfig, policy: AgentPolicy) -> BluezPairing:
        from endorse_ble.peripheral.bluez_pairing import BluezPairing

        return BluezPairing(config.ble.adapter, policy, config.ble.pairing_passkey)


class Reloader:
    """SIGHUP: read the configuration again and hand it to the daemon, one at a time."""

    def __init__(
        self,
        path: str,
        log_level: str | None,
        daemon: GatewayDaemon,
        notifier: SdNotifier,
        pairing: PairingService | None = None,
        ble: BleSettings | None = None,
    ) -> None:
        self._path = path
        self._log_level = log_level
        self._daemon = daemon
        self._notifier = notifier
        self._pairing = pairing
        self._ble = ble
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def request(self) -> None:
        task = asyncio.get_running_loop().create_task(self._reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reload(self) -> None:
        async with self._lock:
            try:
                config = load_config(self._path)
            except ConfigError as exc:
                log.error("reload refused, keeping the running configuration: %s", exc)
                self._notifier.status(f"reload refused: {exc}")
                return
            if self._log_level:  # --log-level keeps overriding the file
                config = dataclasses.replace(config, log_level=self._log_level)
            await self._daemon.reload(config)
            pairing_settings = (config.ble.adapter, config.ble.pairing_passkey)
            if (
                self._pairing is not None
                and self._ble is not None
                and pairing_settings
                != (
                    self._ble.adapter,
                    self._ble.pairing_passkey,
                )
            ):
                # Another adapter or passkey: a new agent for the next window.
                await self._pairing.replace_adapter(
                    lambda policy: RealParts().pairing(config, policy)
                )
            self._ble = config.ble


async def serve(config: GatewayConfig, config_path: str, log_level: str | None = None) -> int:
    """Run the daemon until SIGTERM or SIGINT."""
    # Imported here so that `check-config` and `--help` stay light.
    from endorse_ble.peripheral.control_socket import (
        ControlServer,
        ControlSocketError,
        socket_path,
    )
    from endorse_ble.peripheral.daemon import GatewayDaemon
    from endorse_ble.peripheral.pairing_service import PairingService
    from endorse_ble.peripheral.ports import SystemClock
    from endorse_ble.peripheral.sd_notify import SdNotifier
    from endorse_ble.peripheral.step_watch import DaemonThreadExecutor

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Worker threads nothing joins: a call stuck in the kernel cannot hold up SIGTERM.
    loop.set_default_executor(DaemonThreadExecutor())
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    notifier = SdNotifier.from_environment()
    parts = RealParts()
    daemon = GatewayDaemon(config, parts, SystemClock(), notifier)
    loop.add_signal_handler(signal.SIGUSR1, daemon.refresh_now)
    pairing = PairingService(
        lambda policy: parts.pairing(config, policy), SystemClock(), daemon.status_changed
    )
    daemon.pairing_status = pairing.describe
    loop.add_signal_handler(
        signal.SIGHUP,
        Reloader(config_path, log_level, daemon, notifier, pairing, config.ble).request,
    )
    control = ControlServer(socket_path(), pairing.handle)
    try:
        await pairing.start()
        try:
            await control.start()
        except ControlSocketError as exc:
            log.warning("pairing windows unavailable: %s", exc)
        await daemon.run(stop)
    except PeripheralError as exc:
        log.error("%s", exc)
        return EXIT_FAILURE
    finally:
        await control.stop()
        try:
            await asyncio.wait_for(pairing.stop(), PAIRING_STOP_SECONDS)
        except TimeoutError:
            log.warning("BlueZ did not close the pairing window in time; its timeout will")
        notifier.close()
    log.info("stopped")
    return EXIT_OK


def log_environment(config: GatewayConfig) -> None:
    """check-config's environment checks, logged at start; the daemon runs regardless (a
    link or a modem may come later, and it recovers by itself)."""
    from endorse_ble.peripheral.environment import environment_findings

    findings = environment_findings(config)
    for finding in findings:
        log.warning("environment: %s", finding)
    if not findings:
        log.info("environment: modem port, interface, adapter and Endorse host look right")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"endorse-peripheral: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.log_level:
        config = dataclasses.replace(config, log_level=args.log_level)
    _setup_logging(config.log_level)
    log_environment(config)
    return asyncio.run(serve(config, args.config, config.log_level if args.log_level else None))
