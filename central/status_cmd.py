"""``endorse-central status``: the gateway's status record and info, for people or --json."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from endorse_ble.central.cli_text import HelpFormatter
from endorse_ble.central.errors import LaptopKeyError
from endorse_ble.central.failures import report
from endorse_ble.central.gateway_options import add_gateway_options
from endorse_ble.central.gateway_session import with_gateway
from endorse_ble.central.laptop_key import key_name, load_key
from endorse_ble.central.progress import Progress
from endorse_ble.central.settings import add_config_options, resolve
from endorse_ble.central.status_view import info_json, status_lines
from endorse_ble.central.token_view import format_rows
from endorse_ble.tokenlink.cli import EXIT_OK
from endorse_ble.tokenlink.errors import EndorseBleError

if TYPE_CHECKING:
    from endorse_ble.central.ble_reader import GatewaySession
    from endorse_ble.tokenlink.profile import InfoRecord


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Show a gateway's status: token state, age and expiry, modem signal and "
        "registration, last error; and whether this laptop's key is enrolled for the "
        "profile. Never reads the token."
    )
    parser.epilog = (
        "examples:\n  endorse-central status\n  endorse-central status --name gw1 --json"
    )
    parser.formatter_class = HelpFormatter
    add_gateway_options(parser)
    add_config_options(parser, exchange=False)
    parser.add_argument("--json", action="store_true", help="print info and status as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def laptop_key_status(profile: str | None) -> dict[str, Any]:
    """Whether the profile has an enrolled laptop key, and its thumbprint (never the key)."""
    name = key_name(profile)
    try:
        key = load_key(name)
    except LaptopKeyError as exc:
        return {"name": name, "enrolled": False, "jkt": None, "problem": str(exc)}
    jkt = key.thumbprint if key is not None else None
    return {"name": name, "enrolled": key is not None, "jkt": jkt}


def laptop_key_line(state: dict[str, Any]) -> tuple[str, str]:
    """The ``laptop key`` row of the status table."""
    if state.get("problem"):
        return "laptop key", f"unusable: {state['problem']}"
    if state["enrolled"]:
        return "laptop key", f"enrolled ({state['name']}), jkt={state['jkt']}"
    return "laptop key", f"not enrolled ({state['name']}); `endorse-central enroll` creates one"


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
    key = laptop_key_status(settings.profile)
    if args.json:
        print(json.dumps({"info": info_json(info), "status": status, "laptop_key": key}, indent=2))
    else:
        rows = status_lines(info, status, time.time(), gateway)
        rows.append(laptop_key_line(key))
        sys.stdout.write(format_rows(rows))
    return EXIT_OK
