"""``endorse-central credential-process``: the AWS credential_process helper.

Prints exactly the credential_process JSON on stdout and nothing else; on failure, one
line on stderr and a non-zero exit. Answers from the per-profile cache until ``--skew``
seconds before expiry (central.fast_credentials serves hits before this module is
even imported); otherwise reads a fresh token from the gateway, exchanges it and caches
the result.
"""

from __future__ import annotations

import argparse
import sys

from endorse_ble.central.cli_text import HelpFormatter
from endorse_ble.central.credential_cache import (
    DEFAULT_SKEW_SECONDS,
    CredentialCache,
    render_process_json,
)
from endorse_ble.central.credential_flow import (
    TokenSource,
)
from endorse_ble.central.errors import UsageError
from endorse_ble.central.failures import exit_code_table, report
from endorse_ble.central.gateway_options import add_gateway_options
from endorse_ble.central.profile_refresh import cached_or_refreshed, fetch
from endorse_ble.central.progress import Progress
from endorse_ble.central.settings import add_config_options, resolve
from endorse_ble.tokenlink.cli import EXIT_OK
from endorse_ble.tokenlink.errors import EndorseBleError

EPILOG = f"""\
In ~/.aws/config:

  [profile gw]
  credential_process = endorse-credential-process --profile gw

endorse-credential-process is this command as its own program (an .exe on Windows):
with the cache warm it costs about as much as starting Python, on every AWS CLI command.

then: aws --profile gw sts get-caller-identity

The cache is one file per profile under the user cache dir (0600); `endorse-central
logout --profile gw` forgets it. Profile settings (gateway, exchange URL) come from
[profiles.NAME] of the config file; flags win.

exit codes:
{exit_code_table()}
"""


def _skew(text: str) -> float:
    value = float(text)
    if not 0 <= value < 86400:
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds in [0, 86400)")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Print temporary AWS credentials as credential_process JSON (Version 1), from the "
        "cache while they are good, else from the gateway and the exchange."
    )
    parser.epilog = EPILOG
    parser.formatter_class = HelpFormatter
    add_gateway_options(parser, challenge=True)
    add_config_options(parser, exchange=True, profile_required=True)
    parser.add_argument(
        "--skew",
        type=_skew,
        default=DEFAULT_SKEW_SECONDS,
        metavar="S",
        help="refresh this many seconds before expiry (default: %(default)s)",
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")


def execute(
    args: argparse.Namespace,
    token_source: TokenSource | None = None,
    cache: CredentialCache | None = None,
) -> int:
    """Run the command; ``token_source`` replaces the gateway (tests)."""
    try:
        if not args.profile:
            raise UsageError("--profile NAME is required (it names the cache entry)")
        settings = resolve(args)
        cache = cache or CredentialCache()
        # The AWS CLI shows our stderr verbatim: no spinner, only the final error line.
        progress = Progress(enabled=False)
        if args.no_cache:
            output = fetch(settings, progress, token_source).result.credentials.process_json()
        else:
            fields, _ = cached_or_refreshed(
                settings,
                cache,
                args.profile,
                args.skew,
                lambda: fetch(settings, progress, token_source),
            )
            output = render_process_json(fields)
    except EndorseBleError as exc:
        return report(exc)
    sys.stdout.write(output + "\n")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    return execute(args)
