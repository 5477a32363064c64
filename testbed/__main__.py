"""``endorse-testbed``: hardware-free stand-ins for the radio, the modem and Endorse."""

from __future__ import annotations

import sys

from endorse_ble.tokenlink.cli import Subcommand, dispatch

COMMANDS = {
    "bluez": Subcommand(
        "endorse_ble.testbed.bluez.cli",
        "run a fake BlueZ on two private D-Bus buses (the mock BLE adapter)",
    ),
    "endorse": Subcommand(
        "endorse_ble.testbed.endorse.cli",
        "run the Endorse simulator (RS256 tokens and a keystore) on 127.0.0.1",
    ),
    "modem": Subcommand(
        "endorse_ble.testbed.modem.cli",
        "run a 3G modem emulator on a pseudo-terminal and print its device path",
    ),
    "aws": Subcommand(
        "endorse_ble.testbed.aws.cli", "run a local AWS (moto: STS, DynamoDB) on 127.0.0.1"
    ),
    "demo": Subcommand(
        "endorse_ble.testbed.demo",
        "the whole chain on this machine: gateway -> BLE -> laptop -> exchange -> credentials",
    ),
    "smoke": Subcommand(
        "endorse_ble.testbed.smoke",
        "check the mock BLE adapter: a bless server read by a bleak client",
    ),
}


def main() -> None:
    sys.exit(dispatch("endorse-testbed", __doc__ or "", COMMANDS))


if __name__ == "__main__":
    main()
