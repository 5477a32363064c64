"""``endorse-exchange check-config``: validate the exchange's configuration before deploying.

Reads ``--config PATH`` or, without it, the ``EXCHANGE_*`` environment as the Lambda does.
``--lambda`` (implied when run inside Lambda) checks it as the function will run it: its
AssumeRole calls use the execution role's credentials (role chaining, at most 3600 s).
Prints ``configuration OK`` and any warning on stdout; exit 0, or 2 with one line on
stderr for an invalid configuration.
"""

from __future__ import annotations

import argparse
import os
import sys

from endorse_ble.exchange.config import check_role_chaining
from endorse_ble.exchange.config_source import add_config_option, load_for
from endorse_ble.exchange.errors import ConfigError
from endorse_ble.exchange.serve import config_warnings
from endorse_ble.tokenlink.cli import EXIT_OK, EXIT_USAGE


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``endorse-exchange check-config``."""
    add_config_option(parser)
    parser.add_argument(
        "--lambda",
        dest="on_lambda",
        action="store_true",
        help="check as the Lambda function runs it (role chaining: duration <= 3600 s)",
    )


def run(args: argparse.Namespace) -> int:
    """Validate; exit 0 when the configuration is usable, 2 when it is not."""
    try:
        config = load_for(args)
        if args.on_lambda or "AWS_LAMBDA_FUNCTION_NAME" in os.environ:
            check_role_chaining(config)
    except ConfigError as exc:
        print(f"endorse-exchange check-config: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    print("configuration OK")
    for warning in config_warnings(config):
        print(f"warning: {warning}")
    return EXIT_OK
