"""``endorse-central token``: read the gateway's token and print the JWT on stdout."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from endorse_ble.central.cli_text import HelpFormatter
from endorse_ble.central.failures import report
from endorse_ble.central.gateway_options import add_gateway_options
from endorse_ble.central.gateway_session import with_gateway
from endorse_ble.central.progress import Progress
from endorse_ble.central.settings import add_config_options, resolve
from endorse_ble.tokenlink.cli import EXIT_OK
from endorse_ble.tokenlink.errors import EndorseBleError
from endorse_ble.tokenlink.redact import describe_secret

if TYPE_CHECKING:
    from endorse_ble.central.ble_reader import GatewaySession, TokenRead


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Read the Endorse token from a nearby gateway and print it on stdout "
        "(progress and errors go to stderr)."
    )
    parser.epilog = (
        "examples:\n"
        "  endorse-central token --challenge > token.jwt\n"
        "  endorse-central token | endorse-central inspect\n\n"
        "The token is a bearer credential: keep it out of logs and shell history."
    )
    parser.formatter_class = HelpFormatter
    add_gateway_options(parser, challenge=True)
    add_config_options(parser, exchange=False)
    parser.add_argument(
        "--challenge",
        action="store_true",
        help="ask for a fresh token bound to a new random nonce (costs one Endorse request)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    async def read(session: GatewaySession) -> TokenRead:
        return await session.read_token(fresh=args.challenge)

    try:
        settings = resolve(args)
        progress = Progress(enabled=not args.quiet)
        result = with_gateway(settings.gateway, progress, read, "reading the token...")
    except EndorseBleError as exc:
        return report(exc)
    progress.done(f"read the token ({describe_secret(result.token)})")
    sys.stdout.write(result.token + "\n")
    return EXIT_OK
