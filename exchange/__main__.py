"""``endorse-exchange``: verify Endorse tokens and issue temporary AWS credentials."""

from __future__ import annotations

import sys

from endorse_ble.tokenlink.cli import Subcommand, dispatch

#: What the [exchange] extra installs (top-level import names), checked before ``serve``.
LIBRARIES = ("jwt", "cryptography", "boto3", "waitress")

COMMANDS: dict[str, Subcommand] = {
    "serve": Subcommand(
        "endorse_ble.exchange.serve", "serve the exchange API over HTTP on 127.0.0.1", LIBRARIES
    ),
    # Pure: judges a configuration on a bare install.
    "check-config": Subcommand(
        "endorse_ble.exchange.check_config", "validate the configuration (file or environment)"
    ),
    "allow": Subcommand(
        "endorse_ble.exchange.allow_cmd",
        "add, remove, disable or list SIMs in DynamoDB",
        ("boto3",),
    ),
}


def main() -> None:
    sys.exit(dispatch("endorse-exchange", __doc__ or "", COMMANDS, extra="exchange"))


if __name__ == "__main__":
    main()
