"""``endorse-exchange``: verify Endorse tokens and issue temporary AWS credentials."""

from __future__ import annotations

import sys

from tokenlink.cli import Subcommand, dispatch

COMMANDS: dict[str, Subcommand] = {
    "serve": Subcommand("exchange.serve", "serve the exchange API over HTTP on 127.0.0.1"),
}


def main() -> None:
    sys.exit(dispatch("endorse-exchange", __doc__ or "", COMMANDS))


if __name__ == "__main__":
    main()
