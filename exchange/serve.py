"""``endorse-exchange serve``: the exchange API over plain HTTP on a loopback address.

For testers, the demo and a laptop that runs its own exchange. Plain HTTP carries bearer
tokens and AWS secrets, so only loopback addresses are accepted. Prints
``EXCHANGE_URL=http://HOST:PORT/`` then ``READY`` on stdout once it accepts connections;
stops cleanly on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from endorse_ble.exchange.audit import AUDIT_LOGGER
from endorse_ble.exchange.config import ExchangeConfig, load_config_file
from endorse_ble.exchange.errors import ExchangeError
from endorse_ble.tokenlink.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from endorse_ble.tokenlink.net import is_loopback_host

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``endorse-exchange serve``."""
    parser.add_argument("--config", required=True, type=Path, help="TOML configuration file")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each request")


def config_warnings(config: ExchangeConfig) -> list[str]:
    """What in a valid configuration will refuse every request, in one line each."""
    warnings = []
    if config.allowlist.backend == "config" and not config.allow:
        warnings.append("nobody is allowed: the allowlist is empty, every SIM will be refused")
    if config.credentials.default_role_arn is None and (
        config.allowlist.backend == "dynamodb" or not config.allow
    ):
        warnings.append(
            "no role is set: credentials.default_role_arn is empty, so only SIMs whose "
            "entry names a role_arn can get credentials"
        )
    return warnings


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The audit trail is one bare JSON line per decision, whatever the verbosity.
    audit = logging.getLogger(AUDIT_LOGGER)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    audit.addHandler(handler)
    audit.setLevel(logging.INFO)
    audit.propagate = False


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; exit 0, 1 on a startup failure, 2 on bad usage."""
    _configure_logging(args.verbose)
    if not is_loopback_host(args.host):
        print(f"endorse-exchange: refusing non-loopback host {args.host}", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = load_config_file(args.config)
    except ExchangeError as exc:
        print(f"endorse-exchange: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    for warning in config_warnings(config):
        print(f"endorse-exchange: warning: {warning}", file=sys.stderr)
    # Imported here so that a bad command line or config answers without loading them.
    from endorse_ble.exchange.app import build_app
    from endorse_ble.exchange.http_server import ExchangeServer

    try:
        server = ExchangeServer(build_app(config), config, args.host, args.port)
    except OSError as exc:
        print(f"endorse-exchange: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    server.start()
    print(f"EXCHANGE_URL={server.url}", flush=True)
    print("READY", flush=True)
    stop.wait()
    server.stop()
    return EXIT_OK
