"""Command-line options that say which gateway to talk to, shared by the subcommands.

Options default to None ("not given") so that the user's config file can fill them in;
flags always win (central.settings). bleak is imported only when a reader is built.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from endorse_ble.central.user_config import GatewayConfig
from endorse_ble.tokenlink.durations import WAIT_RULE, is_wait_seconds

if TYPE_CHECKING:
    from endorse_ble.central.ble_reader import ReaderOptions

DEFAULT_SCAN_TIMEOUT = 10.0
DEFAULT_CHALLENGE_TIMEOUT = 30.0
#: The whole gateway session: waiting for this user's other runs, scan, connect, read.
DEFAULT_GATEWAY_TIMEOUT = 60.0


def _seconds(text: str) -> float:
    value = float(text)
    if not is_wait_seconds(value):
        raise argparse.ArgumentTypeError(f"{text} is not {WAIT_RULE}")
    return value


class _Verbose(argparse.Action):
    """-v: log each BLE step of this program (scan, connect, reads, retries) on stderr."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=False, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        setattr(namespace, self.dest, True)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("endorse-central: %(message)s"))
        logger = logging.getLogger("endorse_ble.central")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def add_gateway_options(parser: argparse.ArgumentParser, *, challenge: bool = False) -> None:
    """Add --name/--address/--adapter/--scan-timeout/--pair (and --challenge-timeout)."""
    group = parser.add_argument_group("gateway (default: the config file, then any gateway)")
    group.add_argument("--name", help="the gateway's advertised name")
    group.add_argument(
        "--address", help="the gateway's address as this platform shows it (MAC, or UUID on macOS)"
    )
    group.add_argument("--adapter", help="Bluetooth adapter to use, e.g. hci1 (Linux only)")
    group.add_argument(
        "--scan-timeout",
        type=_seconds,
        metavar="S",
        help=f"seconds to look for the gateway (default: {DEFAULT_SCAN_TIMEOUT:g})",
    )
    group.add_argument(
        "--gateway-timeout",
        type=_seconds,
        metavar="S",
        help="seconds the whole gateway session may take, waiting for this user's other "
        f"runs included (default: {DEFAULT_GATEWAY_TIMEOUT:g})",
    )
    group.add_argument(
        "--pair",
        action="store_true",
        default=None,
        help="pair first (gateways that require encryption)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action=_Verbose,
        help="log each Bluetooth step (scan, connect, reads, retries) on stderr",
    )
    if challenge:
        group.add_argument(
            "--challenge-timeout",
            type=_seconds,
            metavar="S",
            help=f"seconds to wait for a fresh token (default: {DEFAULT_CHALLENGE_TIMEOUT:g})",
        )


def gateway_flags(args: argparse.Namespace) -> GatewayConfig:
    """The gateway settings given as flags (None where a flag was not given)."""
    return GatewayConfig(
        name=args.name,
        address=args.address,
        adapter=args.adapter,
        scan_timeout=args.scan_timeout,
        challenge_timeout=getattr(args, "challenge_timeout", None),
        gateway_timeout=args.gateway_timeout,
        pair=args.pair,
    )


def to_reader_options(gateway: GatewayConfig) -> ReaderOptions:
    """The ble_reader options for resolved ``gateway`` settings (imports bleak)."""
    from endorse_ble.central.ble_reader import ReaderOptions

    return ReaderOptions(
        name=gateway.name,
        address=gateway.address,
        adapter=gateway.adapter,
        scan_timeout=gateway.scan_timeout or DEFAULT_SCAN_TIMEOUT,
        challenge_timeout=gateway.challenge_timeout or DEFAULT_CHALLENGE_TIMEOUT,
        pair=bool(gateway.pair),
    )
