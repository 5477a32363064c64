"""``endorse-central credentials``: AWS credentials as shell exports, JSON or a profile."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from endorse_ble.central.cli_text import HelpFormatter
from endorse_ble.central.credential_flow import TokenSource, obtain_credentials
from endorse_ble.central.credentials import ExchangeResult
from endorse_ble.central.exports import Shell, environment, render_exports
from endorse_ble.central.failures import report
from endorse_ble.central.gateway_options import add_gateway_options
from endorse_ble.central.progress import Progress
from endorse_ble.central.settings import Settings, add_config_options, resolve
from endorse_ble.tokenlink.cli import EXIT_OK
from endorse_ble.tokenlink.errors import EndorseBleError

EPILOG = """\
examples:
  eval "$(endorse-central credentials)"                      # bash, zsh
  endorse-central credentials --format fish | source          # fish
  endorse-central credentials --format powershell | Invoke-Expression
  endorse-central credentials --json > creds.json
  endorse-central credentials --write-profile gw && aws --profile gw sts get-caller-identity

Exports and JSON contain the secret key: they go to stdout only. --write-profile puts the
credentials in [NAME] of ~/.aws/credentials (or $AWS_SHARED_CREDENTIALS_FILE), mode 0600,
leaving other profiles and comments as they are.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Ask the gateway for a fresh token, trade it at the exchange for temporary AWS "
        "credentials and print them."
    )
    parser.epilog = EPILOG
    parser.formatter_class = HelpFormatter
    add_gateway_options(parser, challenge=True)
    add_config_options(parser, exchange=True)
    out = parser.add_argument_group("output (one of)").add_mutually_exclusive_group()
    out.add_argument(
        "--format",
        choices=[s.value for s in Shell],
        default=Shell.BASH.value,
        help="shell syntax of the exports (default: %(default)s)",
    )
    out.add_argument("--json", action="store_true", help="print JSON (credential_process shape)")
    out.add_argument(
        "--write-profile",
        metavar="NAME",
        help="write [NAME] in the AWS shared credentials file instead of printing",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="with --profile: neither use nor update the profile's cached credentials",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument(
        "--timings",
        action="store_true",
        help="print how long scan, connect, read and exchange took, on stderr",
    )


def result_json(result: ExchangeResult) -> str:
    """The credential_process fields plus the subject, as indented JSON."""
    body: dict[str, object] = {"Version": 1, **result.credentials.process_fields()}
    body["Subject"] = {"imsi": result.subject.imsi, "imei": result.subject.imei}
    return json.dumps(body, indent=2)


def execute(args: argparse.Namespace, token_source: TokenSource | None = None) -> int:
    """Run the command; ``token_source`` replaces the gateway (tests)."""
    try:
        settings = resolve(args)
        progress = Progress(enabled=not args.quiet)
        check_target = None
        if args.write_profile:
            from endorse_ble.central.aws_credentials_file import check_profile_target

            profile = args.write_profile

            def check_target() -> object:
                return check_profile_target(profile)

        result = _obtain(args, settings, progress, token_source, check_target)
        credentials = result.credentials
        progress.done(
            f"credentials for IMSI {result.subject.imsi or '?'}, expire {credentials.expiration}"
        )
        if args.write_profile:
            from endorse_ble.central.aws_credentials_file import write_profile

            path = write_profile(args.write_profile, credentials)
            print(
                f"endorse-central: wrote [{args.write_profile}] in {path}, "
                f"expires {credentials.expiration}",
                file=sys.stderr,
            )
        elif args.json:
            print(result_json(result))
        else:
            sys.stdout.write(render_exports(Shell(args.format), environment(credentials)))
        if args.timings:
            print(f"endorse-central: timings: {progress.timing_line()}", file=sys.stderr)
    except EndorseBleError as exc:
        return report(exc)
    return EXIT_OK


def _obtain(
    args: argparse.Namespace,
    settings: Settings,
    progress: Progress,
    token_source: TokenSource | None,
    check_target: Callable[[], object] | None,
) -> ExchangeResult:
    """Fresh credentials, or with --profile the profile's cached ones while good (shared
    with credential-process, so parallel runs for one profile read the gateway once)."""
    if not args.profile or args.no_cache:
        return obtain_credentials(settings, progress, token_source, check_target)
    from endorse_ble.central.credential_cache import DEFAULT_SKEW_SECONDS, CredentialCache
    from endorse_ble.central.credentials import Subject, credentials_from_json
    from endorse_ble.central.profile_refresh import cached_or_refreshed, fetch

    fields, fetched = cached_or_refreshed(
        settings,
        CredentialCache(),
        args.profile,
        DEFAULT_SKEW_SECONDS,
        lambda: fetch(settings, progress, token_source, check_target),
    )
    if fetched is not None:
        return fetched.result
    if check_target is not None:
        check_target()
    return ExchangeResult(credentials_from_json(fields), Subject(None, None))


def run(args: argparse.Namespace) -> int:
    return execute(args)
