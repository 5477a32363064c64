"""The cached path of ``endorse-central credential-process``, before anything heavy loads.

The AWS CLI runs credential_process for every command and does not cache (AWS CLI docs),
so a cache hit must cost little more than starting Python: this module and everything it
imports use only ``os``, ``sys`` and ``time``. It understands the command line just well
enough to find ``--profile`` and ``--skew``; anything else it does not recognise, a
``--no-cache``, a miss or a stale entry, hands over to the full CLI (argparse, config,
BLE, exchange), which reports errors properly.

The ``endorse-credential-process`` console entry point runs :func:`main` (pip's wrapper
imports only ``sys``; on Windows it is an .exe, which the AWS CLI can start)::

    credential_process = endorse-credential-process --profile gw
"""

from __future__ import annotations

import sys

from endorse_ble.central.credential_cache import (
    DEFAULT_SKEW_SECONDS,
    CredentialCache,
    render_process_json,
)

#: Options of credential-process that take a value; kept equal to the argparse definition
#: by a test, so that the fast path skips exactly what the full parser would accept.
VALUE_OPTIONS = frozenset(
    {
        "--profile",
        "--skew",
        "--config",
        "--exchange-url",
        "--exchange-timeout",
        "--name",
        "--address",
        "--adapter",
        "--scan-timeout",
        "--challenge-timeout",
        "--gateway-timeout",
    }
)
#: Options without a value that do not change what a cache hit prints.
FLAG_OPTIONS = frozenset({"--pair", "--verbose", "-v"})


def parse_fast(argv: list[str]) -> tuple[str, float] | None:
    """``(profile, skew)`` when ``argv`` (after the subcommand) is a plain cached lookup."""
    values: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, inline = arg.partition("=")
        if name in VALUE_OPTIONS:
            if eq:
                value = inline
            elif i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                # argparse would read "--name --profile" as a missing value: so do we.
                i += 1
                value = argv[i]
            else:
                return None
            if name in values:
                return None
            values[name] = value
        elif arg not in FLAG_OPTIONS:
            return None  # --no-cache, --help, a typo: the full CLI decides
        i += 1
    profile = values.get("--profile")
    if not profile:
        return None
    try:
        skew = float(values.get("--skew", DEFAULT_SKEW_SECONDS))
    except ValueError:
        return None
    if not 0 <= skew < 86400:  # also rejects nan
        return None
    return profile, skew


def serve_cached(argv: list[str]) -> bool:
    """Print the cached credential_process JSON for ``argv`` and return True, if there is one."""
    parsed = parse_fast(argv)
    if parsed is None:
        return False
    profile, skew = parsed
    try:
        fields = CredentialCache().load(profile, skew)
    except ValueError:
        return False  # an invalid profile name: the full CLI explains
    if fields is None:
        return False
    sys.stdout.write(render_process_json(fields) + "\n")
    sys.stdout.flush()
    return True


def main(argv: list[str] | None = None) -> None:
    """Entry point: serve from the cache, or run the full ``credential-process``."""
    args = sys.argv[1:] if argv is None else argv
    try:
        if serve_cached(args):
            sys.exit(0)
        from endorse_ble.central.__main__ import run

        code = run(["credential-process", *args])
    except KeyboardInterrupt:
        # One line, as every other command prints: the AWS CLI shows our stderr as is.
        sys.stderr.write("endorse-credential-process: interrupted\n")
        code = 130  # central.failures.EXIT_INTERRUPTED, not imported on this path
    sys.exit(code)


if __name__ == "__main__":
    main()
