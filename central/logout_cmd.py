"""``endorse-central logout``: forget cached credentials (one profile or all)."""

from __future__ import annotations

import argparse
import sys

from endorse_ble.central.cli_text import HelpFormatter
from endorse_ble.central.credential_cache import CredentialCache, is_valid_profile
from endorse_ble.central.errors import CredentialsFileError, UsageError
from endorse_ble.central.failures import report
from endorse_ble.tokenlink.cli import EXIT_OK
from endorse_ble.tokenlink.errors import EndorseBleError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Delete cached credentials, so the next credential-process run asks the gateway "
        "again. Credentials already issued stay valid until they expire."
    )
    parser.epilog = (
        "examples:\n  endorse-central logout --profile gw\n  endorse-central logout --all"
    )
    parser.formatter_class = HelpFormatter
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--profile", metavar="NAME", help="forget this profile's credentials")
    which.add_argument("--all", action="store_true", help="forget every profile's credentials")


def execute(args: argparse.Namespace, cache: CredentialCache | None = None) -> int:
    """Run the command on ``cache`` (default: the user cache dir)."""
    cache = cache or CredentialCache()
    try:
        if args.profile is not None and not is_valid_profile(args.profile):
            raise UsageError(f"invalid profile name {args.profile!r}")
        profiles = cache.profiles() if args.all else [args.profile]
        removed = [p for p in profiles if cache.clear(p)]
    except OSError as exc:
        return report(CredentialsFileError(cache.directory, exc.strerror or str(exc)))
    except EndorseBleError as exc:
        return report(exc)
    if removed:
        print(f"endorse-central: forgot {', '.join(removed)}", file=sys.stderr)
    else:
        print("endorse-central: nothing cached", file=sys.stderr)
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    return execute(args)
