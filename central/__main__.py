"""``endorse-central``: the laptop CLI: gateway token to AWS credentials."""

from __future__ import annotations

import sys

from tokenlink.cli import Subcommand, dispatch

COMMANDS: dict[str, Subcommand] = {
    "token": Subcommand("central.token_cmd", "read the gateway's token and print the JWT"),
}


def main() -> None:
    sys.exit(dispatch("endorse-central", __doc__ or "", COMMANDS))


if __name__ == "__main__":
    main()
