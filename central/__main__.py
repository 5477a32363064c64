"""``endorse-central``: the laptop CLI: gateway token to AWS credentials."""

from __future__ import annotations

import sys

# Keep the start-up lean for the cached credential-process path (see fast_credentials).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

#: What the [central] extra installs (top-level import names), checked before a command.
LIBRARIES = (
    "bleak",
    "bleak_retry_connector",
    "requests",
    "rich",
    "jwt",
    "cryptography",
    "keyring",
)

#: Subcommand -> (module, one-line help). Modules are imported only when chosen.
COMMANDS: dict[str, tuple[str, str]] = {
    "scan": ("endorse_ble.central.scan_cmd", "list nearby gateways"),
    "status": (
        "endorse_ble.central.status_cmd",
        "show a gateway's status: token, modem, last error",
    ),
    "token": ("endorse_ble.central.token_cmd", "read the gateway's token and print the JWT"),
    "inspect": ("endorse_ble.central.inspect_cmd", "decode a token: claims, IMSI/IMEI, time left"),
    "credentials": (
        "endorse_ble.central.credentials_cmd",
        "get AWS credentials: exports, JSON or a profile",
    ),
    "credential-process": (
        "endorse_ble.central.credential_process_cmd",
        "AWS credential_process helper (cached; prints only the JSON)",
    ),
    "logout": ("endorse_ble.central.logout_cmd", "forget cached credentials"),
    "enroll": (
        "endorse_ble.central.enroll_cmd",
        "create this laptop's key for a profile and print its thumbprint (jkt)",
    ),
}


def run(argv: Sequence[str]) -> int:
    """Run the CLI on ``argv`` (without the program name) and return the exit code."""
    from endorse_ble.central.cli_text import MAIN_EPILOG
    from endorse_ble.tokenlink.cli import Subcommand, dispatch

    commands = {
        name: Subcommand(module, text, LIBRARIES) for name, (module, text) in COMMANDS.items()
    }
    return dispatch(
        "endorse-central", __doc__ or "", commands, argv, epilog=MAIN_EPILOG, extra="central"
    )


def main() -> None:
    """Console entry point."""
    argv = sys.argv[1:]
    if argv[:1] == ["credential-process"]:
        # A cache hit answers here, before argparse and the rest are imported.
        from endorse_ble.central.fast_credentials import serve_cached

        if serve_cached(argv[1:]):
            sys.exit(0)
    try:
        code = run(argv)
    except KeyboardInterrupt as exc:
        from endorse_ble.central.failures import report

        code = report(exc)
    sys.exit(code)


if __name__ == "__main__":
    main()
