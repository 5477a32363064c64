"""``endorse-peripheral``: the gateway daemon and its tools."""

from __future__ import annotations

import sys

from endorse_ble.tokenlink.cli import Subcommand, dispatch

#: What the [peripheral] extra installs (top-level import names), checked before ``run``.
LIBRARIES = ("bless", "dbus_next", "requests", "serial")

COMMANDS: dict[str, Subcommand] = {
    "run": Subcommand(
        "endorse_ble.peripheral.run_cmd",
        "run the gateway daemon (what systemd starts)",
        LIBRARIES,
    ),
    "pair": Subcommand(
        "endorse_ble.peripheral.pair_cmd",
        "open a pairing window on the running daemon; list or remove bonds",
    ),
    "check-config": Subcommand(
        "endorse_ble.peripheral.check_config",
        "validate a config file and print the effective settings",
    ),
}


def main() -> None:
    sys.exit(dispatch("endorse-peripheral", __doc__ or "", COMMANDS, extra="peripheral"))


if __name__ == "__main__":
    main()
