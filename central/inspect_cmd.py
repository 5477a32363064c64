"""``endorse-central inspect``: decode a token and show its claims, identity and time left."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from endorse_ble.central.cli_text import HelpFormatter
from endorse_ble.central.errors import InputFailure, TokenInputError, UsageError
from endorse_ble.central.failures import report
from endorse_ble.central.token_view import format_rows, token_lines, token_summary
from endorse_ble.tokenlink.cli import EXIT_OK
from endorse_ble.tokenlink.errors import EndorseBleError
from endorse_ble.tokenlink.token import MAX_TOKEN_BYTES, Token, parse_token

EPILOG = """\
examples:
  endorse-central token | endorse-central inspect
  endorse-central inspect token.jwt --json
  endorse-central inspect token.jwt --verify
  endorse-central inspect - --verify --keystore http://127.0.0.1:8080/keys/ < token.jwt

A token is a bearer credential: pass it on stdin or in a file rather than as an argument
(arguments show up in ps and the shell history).
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = "Decode an Endorse token and show its claims (without the token)."
    parser.epilog = EPILOG
    parser.formatter_class = HelpFormatter
    parser.add_argument(
        "source",
        nargs="?",
        default="-",
        metavar="FILE|-|TOKEN",
        help="a file holding the token, - for stdin (default), or the token itself",
    )
    parser.add_argument("--json", action="store_true", help="print the claims as JSON")
    parser.add_argument(
        "--verify", action="store_true", help="check the RS256 signature against the keystore"
    )
    parser.add_argument(
        "--keystore",
        metavar="URL",
        help="key URL prefix the kid is appended to (default: SORACOM's public keystore)",
    )


def read_source(source: str) -> str:
    """The token text from stdin, a file, or the argument itself (bounded)."""
    limit = MAX_TOKEN_BYTES + 64
    try:
        if source == "-":
            if sys.stdin.isatty():
                raise UsageError(
                    "no token: pipe one in (endorse-central token | ...) or name a file"
                )
            data = sys.stdin.buffer.read(limit + 1)
        elif source.startswith("eyJ") and not os.path.exists(source):
            return source  # a JWT's header always starts {" = eyJ in base64url
        else:
            with open(source, "rb") as handle:
                data = handle.read(limit + 1)
    except OSError as exc:
        raise TokenInputError(
            InputFailure.UNREADABLE, f"cannot read {source}: {exc.strerror or exc}"
        ) from exc
    if len(data) > limit:
        raise TokenInputError(InputFailure.MALFORMED, f"{source} is larger than any token")
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise TokenInputError(InputFailure.MALFORMED, f"{source} is not ASCII text") from exc


def _inspect(args: argparse.Namespace) -> tuple[Token, str | None]:
    token = parse_token(read_source(args.source))
    key_url = None
    if args.verify:
        from endorse_ble.central.token_verify import verify_signature
        from endorse_ble.tokenlink.endorse import KEYSTORE_URL

        key_url = verify_signature(token, args.keystore or KEYSTORE_URL)
    return token, key_url


def run(args: argparse.Namespace) -> int:
    try:
        token, key_url = _inspect(args)
    except EndorseBleError as exc:
        return report(exc)
    now = time.time()
    if args.json:
        summary = token_summary(token, now)
        if args.verify:
            summary["signature"] = {"valid": True, "key_url": key_url}
        print(json.dumps(summary, indent=2))
    else:
        rows = token_lines(token, now)
        if key_url is not None:
            rows.append(("signature", f"valid RS256 (key {key_url})"))
        sys.stdout.write(format_rows(rows))
    return EXIT_OK
