"""``endorse-central scan``: list the gateways advertising the profile nearby.

The advertisement carries name, address and signal strength only; the profile version
would cost a connection per gateway, so it is not shown (``status`` reads it).
"""

from __future__ import annotations

import argparse
import json
import sys

from endorse_ble.central.cli_text import HelpFormatter
from endorse_ble.central.failures import report
from endorse_ble.central.gateway_options import add_gateway_options
from endorse_ble.central.gateway_session import scan_gateways
from endorse_ble.central.progress import Progress
from endorse_ble.central.settings import add_config_options, resolve
from endorse_ble.tokenlink.cli import EXIT_OK
from endorse_ble.tokenlink.errors import EndorseBleError
from endorse_ble.tokenlink.text import one_line


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = "List nearby gateways: name, address, signal strength (RSSI)."
    parser.epilog = (
        "examples:\n  endorse-central scan\n  endorse-central scan --scan-timeout 5 --json"
    )
    parser.formatter_class = HelpFormatter
    add_gateway_options(parser)
    add_config_options(parser, exchange=False)
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def format_table(rows: list[tuple[str, str, int]]) -> str:
    """Aligned NAME / ADDRESS / RSSI columns."""
    header = ("NAME", "ADDRESS", "RSSI")
    width_name = max([len(header[0]), *(len(r[0]) for r in rows)])
    width_addr = max([len(header[1]), *(len(r[1]) for r in rows)])
    lines = [f"{header[0]:<{width_name}}  {header[1]:<{width_addr}}  {header[2]}"]
    lines += [f"{n:<{width_name}}  {a:<{width_addr}}  {r}" for n, a, r in rows]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    try:
        settings = resolve(args)
        found = scan_gateways(settings.gateway, Progress(enabled=not args.quiet))
    except EndorseBleError as exc:
        return report(exc)
    if args.json:
        print(json.dumps([{"name": g.name, "address": g.address, "rssi": g.rssi} for g in found]))
        return EXIT_OK
    if not found:
        print(
            "endorse-central: no gateway in range: is it powered, near, and is "
            "endorse-peripheral running?",
            file=sys.stderr,
        )
        return EXIT_OK
    rows = [(one_line(g.name or "-", 40), one_line(g.address, 60), g.rssi) for g in found]
    sys.stdout.write(format_table(rows))
    return EXIT_OK
