"""``endorse-exchange allow add|remove|disable|list``: edit the fleet allowlist in DynamoDB.

The table is ``allowlist.table`` of the configuration (``--config PATH``, or the
``EXCHANGE_*`` environment), or ``--table``. A change reaches every exchange instance
within ``allowlist.cache_seconds``. Exit 0; 1 when the table cannot be read or written
(or the SIM is not listed, for remove and disable); 2 for bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import json
import sys

from endorse_ble.exchange.config import IMEI_PATTERN, IMSI_PATTERN, AllowEntry
from endorse_ble.exchange.config_source import add_config_option, load_for
from endorse_ble.exchange.errors import ExchangeError
from endorse_ble.tokenlink.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from endorse_ble.tokenlink.key_binding import is_thumbprint

_PROG = "endorse-exchange allow"


def _imsi(text: str) -> str:
    if not IMSI_PATTERN.fullmatch(text):
        raise argparse.ArgumentTypeError("an IMSI is 5-15 digits")
    return text


def _imei(text: str) -> str:
    if not IMEI_PATTERN.fullmatch(text):
        raise argparse.ArgumentTypeError("an IMEI is 14-16 digits")
    return text


def _thumbprint(text: str) -> str:
    if not is_thumbprint(text):
        raise argparse.ArgumentTypeError("a laptop key is its thumbprint: 43 base64url characters")
    return text


def _arn(text: str) -> str:
    if not text.startswith("arn:"):
        raise argparse.ArgumentTypeError("a role ARN starts with arn:")
    return text


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``endorse-exchange allow``."""
    add_config_option(parser)
    parser.add_argument("--table", help="the allowlist table (default: allowlist.table)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="allow a SIM (or replace its entry, enabled)")
    add.add_argument("imsi", type=_imsi)
    add.add_argument("--imei", type=_imei, help="bind the SIM to this device")
    add.add_argument("--role-arn", type=_arn, help="role for this SIM (default: the default)")
    add.add_argument(
        "--laptop",
        action="append",
        default=[],
        type=_thumbprint,
        metavar="JKT",
        help="the thumbprint of a laptop key enrolled for it (repeat for more)",
    )
    for name, text in (("remove", "delete a SIM's entry"), ("disable", "refuse a SIM, keep it")):
        action = actions.add_parser(name, help=text)
        action.add_argument("imsi", type=_imsi)
    listing = actions.add_parser("list", help="print every entry")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")


def _describe(entry: AllowEntry) -> dict[str, object]:
    return {
        "imsi": entry.imsi,
        "imei": entry.imei,
        "role_arn": entry.role_arn,
        "enabled": entry.enabled,
        "laptops": list(entry.laptops),
    }


def run(args: argparse.Namespace) -> int:
    """Carry out one action; see the module docstring for exit codes."""
    try:
        config = load_for(args)
    except ExchangeError as exc:
        print(f"{_PROG}: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    from endorse_ble.exchange.allowlist_dynamodb import DynamoAllowlist
    from endorse_ble.exchange.aws_clients import dynamodb_client

    table = DynamoAllowlist(dynamodb_client(config.aws), args.table or config.allowlist.table)
    try:
        if args.action == "add":
            entry = AllowEntry(
                args.imsi, args.imei, args.role_arn, laptops=tuple(args.laptop), enabled=True
            )
            table.put(entry)
            print(f"allowed {args.imsi}")
        elif args.action in {"remove", "disable"}:
            done = table.remove(args.imsi) if args.action == "remove" else table.disable(args.imsi)
            if not done:
                print(f"{_PROG}: {args.imsi} is not on the allowlist", file=sys.stderr)
                return EXIT_FAILURE
            print(f"{'removed' if args.action == 'remove' else 'disabled'} {args.imsi}")
        else:
            for item in table.entries():
                if isinstance(item, str):
                    print(f"{_PROG}: {item}", file=sys.stderr)
                elif args.json:
                    print(json.dumps(_describe(item)))
                else:
                    state = "enabled" if item.enabled else "disabled"
                    print(
                        f"{item.imsi}\t{item.imei or '-'}\t{item.role_arn or '-'}\t{state}"
                        f"\t{','.join(item.laptops) or '-'}"
                    )
    except ExchangeError as exc:
        print(f"{_PROG}: {exc.message}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK
