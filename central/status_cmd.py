"""``endorse-central status``: the gateway's status record and info, for people or --json."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from central.cli_text import HelpFormatter
from central.failures import report
from central.gateway_options import add_gateway_options
from central.gateway_session import with_gateway
from central.progress import Progress
from central.settings import add_config_options, resolve
from central.status_view import info_json, status_lines
from central.token_view import format_rows
from tokenlink.cli import EXIT_OK
from tokenlink.errors import EndorseBleError

if TYPE_CHECKING:
    from central.ble_reader import GatewaySession
    from tokenlink.profile import InfoRecord


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Show a gateway's status: token state, age and expiry, modem signal and "
        "registration, last error. Never reads the token."
    )
    parser.epilog = (
        "examples:\n  endorse-central status\n  endorse-central status --name gw1 --json"
    )
    parser.formatter_class = HelpFormatter
    add_gateway_options(parser)
    add_config_options(parser, exchange=False)
    parser.add_argument("--json", action="store_true", help="print info and status as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


async def _read(session: GatewaySession) -> tuple[InfoRecord, dict[str, Any]]:
    return await session.read_info(), await session.read_status()


def run(args: argparse.Namespace) -> int:
    try:
        settings = resolve(args)
        progress = Progress(enabled=not args.quiet)
        info, status = with_gateway(settings.gateway, progress, _read, "reading the status...")
    except EndorseBleError as exc:
        return report(exc)
    gateway = settings.gateway.name or settings.gateway.address or "(first found)"
    if args.json:
        print(json.dumps({"info": info_json(info), "status": status}, indent=2))
    else:
        sys.stdout.write(format_rows(status_lines(info, status, time.time(), gateway)))
    return EXIT_OK
