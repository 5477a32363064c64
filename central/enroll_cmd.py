"""``endorse-central enroll``: create (or show, or rotate) the laptop's key for a profile.

Prints the key's thumbprint as ``jkt=<43 base64url chars>`` and the allowlist line the
exchange's admin adds to the SIM's ``[[allow]]`` entry; never the private key.
"""

from __future__ import annotations

import argparse
import sys

from endorse_ble.central.cli_text import HelpFormatter
from endorse_ble.central.credential_cache import is_valid_profile
from endorse_ble.central.errors import KeyFailure, LaptopKeyError, UsageError
from endorse_ble.central.failures import report
from endorse_ble.central.laptop_key import (
    KeyVault,
    LaptopKey,
    enroll,
    key_name,
    load_key,
    open_vault,
)
from endorse_ble.tokenlink.cli import EXIT_OK
from endorse_ble.tokenlink.errors import EndorseBleError

EPILOG = """\
examples:
  endorse-central enroll --profile gw
  endorse-central enroll --profile gw --show
  endorse-central enroll --profile gw --rotate

The private key stays on this laptop: in the OS keyring when one is usable, else in a
0600 file in the user config directory. Send the admin the `laptops = [...]` line; once
the exchange requires key binding, only enrolled laptops get credentials for the SIM.
After --rotate, the admin replaces the old thumbprint with the new one.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Create this laptop's P-256 key for a profile and print its thumbprint (jkt) and "
        "the allowlist line for the exchange's admin."
    )
    parser.epilog = EPILOG
    parser.formatter_class = HelpFormatter
    parser.add_argument(
        "--profile", metavar="NAME", help="the profile the key is for (default: 'default')"
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--show", action="store_true", help="print the existing key's jkt")
    action.add_argument("--rotate", action="store_true", help="replace the key with a new one")


def allowlist_line(thumbprint: str) -> str:
    """The line the admin adds to the SIM's ``[[allow]]`` entry of the exchange config."""
    return f'laptops = ["{thumbprint}"]'


def _previous(name: str, vault: KeyVault) -> LaptopKey | None:
    # A key being rotated away may be unreadable or exposed: replacing it is the remedy.
    try:
        return load_key(name, vault)
    except LaptopKeyError:
        return None


def execute(args: argparse.Namespace, vault: KeyVault | None = None) -> int:
    """Run the command on ``vault`` (default: the OS keyring, else the key file)."""
    try:
        if args.profile is not None and not is_valid_profile(args.profile):
            raise UsageError(
                f"invalid profile name {args.profile!r}: use 1-64 of A-Z a-z 0-9 . _ -"
            )
        name = key_name(args.profile)
        vault = vault or open_vault()
        if args.show:
            key = load_key(name, vault)
            if key is None:
                raise LaptopKeyError(
                    KeyFailure.NOT_ENROLLED,
                    f"no key for {name}: run `endorse-central enroll"
                    f"{' --profile ' + args.profile if args.profile else ''}`",
                )
            note = f"key {name} is in {vault.where}"
        else:
            old = _previous(name, vault) if args.rotate else None
            key, created = enroll(name, rotate=args.rotate, vault=vault)
            if not created:
                note = f"key {name} already exists in {vault.where} (--rotate replaces it)"
            elif old is not None:
                note = (
                    f"replaced key {name} (was jkt={old.thumbprint}) in {vault.where}: "
                    "ask the admin to swap the thumbprints"
                )
            else:
                note = f"created key {name} in {vault.where}"
    except EndorseBleError as exc:
        return report(exc)
    print(f"endorse-central: {note}", file=sys.stderr)
    print(
        "endorse-central: send the admin this line for the SIM's [[allow]] entry:",
        file=sys.stderr,
    )
    print(f"jkt={key.thumbprint}")
    print(allowlist_line(key.thumbprint))
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    return execute(args)
