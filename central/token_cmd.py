"""``endorse-central token``: read the gateway's token and print the JWT on stdout."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace

from central.ble_reader import BleReadError, TokenRead, connect
from central.failures import report
from central.gateway_options import add_gateway_options, reader_options
from tokenlink.cli import EXIT_OK
from tokenlink.redact import fingerprint


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Read the Endorse token from a nearby gateway and print it on stdout "
        "(progress and errors go to stderr)."
    )
    parser.epilog = "example: endorse-central token --challenge > token.jwt"
    add_gateway_options(parser)
    parser.add_argument(
        "--challenge",
        action="store_true",
        help="ask for a fresh token bound to a new random nonce (costs one Endorse request)",
    )
    parser.add_argument(
        "--challenge-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds to wait for the fresh token (default: %(default)s)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


async def _read(args: argparse.Namespace) -> TokenRead:
    options = replace(reader_options(args), challenge_timeout=args.challenge_timeout)

    def say(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr)

    say("looking for the gateway...")
    async with connect(options) as session:
        say("connected; reading the token...")
        result = await session.read_token(fresh=args.challenge)
    say(f"read {len(result.token)} bytes (sha256 {fingerprint(result.token)})")
    return result


def run(args: argparse.Namespace) -> int:
    try:
        result = asyncio.run(_read(args))
    except BleReadError as exc:
        return report(exc)
    print(result.token)
    return EXIT_OK
