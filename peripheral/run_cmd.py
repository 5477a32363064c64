"""``endorse-peripheral run``: the gateway daemon's entry point (what systemd starts).

Signals: SIGTERM/SIGINT stop cleanly; SIGUSR1 fetches a fresh token now.

Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 1 when the daemon cannot run
(no Bluetooth adapter, BlueZ refused the application), 2 for a bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from peripheral.config import load_config
from peripheral.errors import ConfigError, PeripheralError
from peripheral.settings import GatewayConfig
from tokenlink.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

log = logging.getLogger("peripheral")

DEFAULT_CONFIG = "/etc/endorse-ble/config.toml"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = "Run the gateway: fetch Endorse tokens and serve them over BLE."
    parser.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        metavar="PATH",
        help="TOML configuration (default: %(default)s; see config.example.toml)",
    )
    parser.add_argument("--log-level", help="override [log] level (DEBUG, INFO, ...)")


def _setup_logging(level: str) -> None:
    # systemd puts stderr in the journal with its own timestamps: keep lines short there.
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    if not sys.stderr.isatty():
        fmt = "%(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr)


async def serve(config: GatewayConfig) -> int:
    """Run the daemon until SIGTERM or SIGINT."""
    # Imported here so that `check-config` and `--help` stay light.
    from peripheral.at_modem import AtModem
    from peripheral.daemon import GatewayDaemon
    from peripheral.endorse_client import EndorseClient
    from peripheral.gatt_server import TokenGattServer
    from peripheral.ports import SystemClock
    from peripheral.sd_notify import SdNotifier
    from peripheral.token_store import TokenStore

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    notifier = SdNotifier.from_environment()
    clock = SystemClock()
    client = EndorseClient(config.endorse, config.cellular)
    modem = AtModem(config.modem)
    store = TokenStore(client, config.refresh, clock, modem=modem)
    daemon = GatewayDaemon(
        config,
        store,
        modem,
        lambda on_challenge: TokenGattServer(config.ble, on_challenge),
        clock,
        notifier,
    )
    loop.add_signal_handler(signal.SIGUSR1, daemon.refresh_now)
    try:
        await daemon.run(stop)
    except PeripheralError as exc:
        log.error("%s", exc)
        return EXIT_FAILURE
    finally:
        client.close()
        modem.close()
        notifier.close()
    log.info("stopped")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"endorse-peripheral: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _setup_logging(args.log_level or config.log_level)
    return asyncio.run(serve(config))
