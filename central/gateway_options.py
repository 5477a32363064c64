"""Command-line options that say which gateway to talk to, shared by the subcommands."""

from __future__ import annotations

import argparse

from central.ble_reader import ReaderOptions


def add_gateway_options(parser: argparse.ArgumentParser) -> None:
    """Add --name/--address/--adapter/--scan-timeout/--pair to ``parser``."""
    group = parser.add_argument_group("gateway")
    group.add_argument("--name", help="the gateway's advertised name (default: any gateway)")
    group.add_argument(
        "--address", help="the gateway's address as this platform shows it (MAC, or UUID on macOS)"
    )
    group.add_argument("--adapter", help="Bluetooth adapter to use, e.g. hci1 (Linux only)")
    group.add_argument(
        "--scan-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds to look for the gateway (default: %(default)s)",
    )
    group.add_argument(
        "--pair", action="store_true", help="pair first (gateways that require encryption)"
    )


def reader_options(args: argparse.Namespace) -> ReaderOptions:
    """The ReaderOptions the parsed gateway options describe."""
    return ReaderOptions(
        name=args.name,
        address=args.address,
        adapter=args.adapter,
        scan_timeout=args.scan_timeout,
        pair=args.pair,
    )
