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
import time

from endorse_ble.central.cli_text import HelpFormatter
from endorse_ble.central.clock_skew import clock_advice
from endorse_ble.central.credential_cache import (
    DEFAULT_SKEW_SECONDS,
    CredentialCache,
    render_process_json,
)
from endorse_ble.central.credential_flow import (
    FreshToken,
    TokenSource,
    gateway_token_source,
    obtain_credentials,
)
from endorse_ble.central.credentials import AwsCredentials
from endorse_ble.central.errors import BleReadError, CredentialsFileError, ReadFailure, UsageError
from endorse_ble.central.failures import exit_code_table, explain, report
from endorse_ble.central.file_lock import LockTimeout
from endorse_ble.central.gateway_options import add_gateway_options
from endorse_ble.central.gateway_session import gateway_deadline
from endorse_ble.central.progress import Progress
from endorse_ble.central.settings import Settings, add_config_options, resolve
from endorse_ble.tokenlink.cli import EXIT_OK
from endorse_ble.tokenlink.errors import EndorseBleError

EPILOG = f"""\
In ~/.aws/config:

  [profile gw]
  credential_process = endorse-credential-process --profile gw

endorse-credential-process is this command installed as a plain script: with the cache
warm it costs about as much as starting Python, on every AWS CLI command.
`endorse-central credential-process --profile gw` works too, a little slower.

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
    add_config_options(parser, exchange=True)
    parser.add_argument(
        "--skew",
        type=_skew,
        default=DEFAULT_SKEW_SECONDS,
        metavar="S",
        help="refresh this many seconds before expiry (default: %(default)s)",
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")


def _store(cache: CredentialCache, profile: str, fields: dict[str, str]) -> None:
    # Credentials in hand are still worth printing when the cache cannot be written.
    try:
        cache.store(profile, fields)
    except OSError as exc:
        failure = explain(CredentialsFileError(cache.path(profile), exc.strerror or str(exc)))
        print(f"endorse-central: warning: not cached: {failure.message}", file=sys.stderr)


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
        if args.no_cache:
            output = _fetch(settings, token_source)[0].process_json()
        else:
            output = _cached_or_fetch(settings, cache, args.profile, args.skew, token_source)
    except EndorseBleError as exc:
        return report(exc)
    sys.stdout.write(output + "\n")
    return EXIT_OK


def _fetch(
    settings: Settings, token_source: TokenSource | None
) -> tuple[AwsCredentials, int | None]:
    """Credentials, and the ``iat`` of the fresh token they came from (for clock checks)."""
    seen: list[FreshToken] = []
    source = token_source or gateway_token_source(settings.gateway, Progress(enabled=False))

    def remembered() -> FreshToken:
        seen.append(source())
        return seen[-1]

    # The AWS CLI shows our stderr verbatim: no spinner, only the final error line.
    result = obtain_credentials(settings, Progress(enabled=False), remembered)
    return result.credentials, seen[-1].issued_at if seen else None


def _cached_or_fetch(
    settings: Settings,
    cache: CredentialCache,
    profile: str,
    skew: float,
    token_source: TokenSource | None,
) -> str:
    fields = cache.load(profile, skew)
    if fields is not None:
        return render_process_json(fields)
    # A run refreshing this profile is waited for (it leaves its result in the cache), but
    # no longer than this run's own deadlines: the gateway session and the exchange.
    wait = gateway_deadline(settings.gateway) + settings.exchange_timeout
    lock = cache.lock(profile)
    try:
        lock.acquire(time.monotonic() + wait)
    except LockTimeout:
        raise BleReadError(
            ReadFailure.DEADLINE,
            f"another run refreshing profile {profile!r} did not finish within {wait:g} s",
        ) from None
    try:
        # Another run may have refreshed while we waited for the lock.
        fields = cache.load(profile, skew)
        if fields is not None:
            return render_process_json(fields)
        credentials, fresh_iat = _fetch(settings, token_source)
        _store(cache, profile, credentials.process_fields())
        if credentials.expires_at - skew <= time.time():
            advice = clock_advice(time.time(), fresh_iat, None) or "lower --skew"
            print(
                f"endorse-credential-process: warning: the credentials last less than --skew "
                f"{skew:g} s, so every run will read the gateway: {advice}",
                file=sys.stderr,
            )
        return credentials.process_json()
    finally:
        lock.release()


def run(args: argparse.Namespace) -> int:
    return execute(args)
