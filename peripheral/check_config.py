"""``endorse-peripheral check-config``: validate a config file and the machine it is for.

Prints the configuration as loaded (defaults filled in) on stdout, as TOML or with
``--json`` as JSON, masking any value whose key names a secret, password or token.
On a bad or missing file prints the one-line :class:`ConfigError` message on stderr.
Then checks the environment (peripheral.environment: modem port, interface, adapter,
Endorse host) and prints each finding as one line on stderr; ``--offline`` skips that,
for preparing a config on another machine.
Exit codes: 0 valid, 1 the environment does not fit, 2 invalid or unreadable.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from endorse_ble.peripheral.config import DEFAULT_CONFIG, config_keys, config_value, load_config
from endorse_ble.peripheral.errors import ConfigError
from endorse_ble.peripheral.settings import GatewayConfig
from endorse_ble.tokenlink.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from endorse_ble.tokenlink.redact import describe_secret

_SECRET_WORDS = ("secret", "password", "token", "passkey")


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the command's options."""
    parser.description = (
        "Validate a configuration file, print the effective settings, and check that this "
        "machine has what it names: the modem port (present, a tty, not held by "
        "ModemManager or pppd), the cellular interface (present, up), the Bluetooth "
        "adapter on BlueZ, and that the Endorse host resolves."
    )
    parser.epilog = "exit codes: 0 fine, 1 the machine does not fit the file, 2 invalid file"
    parser.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        metavar="PATH",
        help="the TOML file (default: %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    parser.add_argument(
        "--offline",
        action="store_true",
        help="check the file only, not this machine (preparing a config elsewhere)",
    )


def run(args: argparse.Namespace) -> int:
    """Load, validate and print; see the module docstring for exit codes."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"endorse-peripheral check-config: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(effective_settings(config), indent=2))
    else:
        print(f"# effective configuration from {args.config}")
        print(render_toml(config), end="")
    if args.offline:
        return EXIT_OK
    from endorse_ble.peripheral.environment import environment_findings

    sys.stdout.flush()  # the settings first, then the findings, when both go to a terminal
    findings = environment_findings(config)
    for finding in findings:
        print(f"endorse-peripheral check-config: {finding}", file=sys.stderr)
    return EXIT_FAILURE if findings else EXIT_OK


def is_secret_key(key: str) -> bool:
    """True for a key whose value must never be printed."""
    return any(word in key.lower() for word in _SECRET_WORDS)


def effective_settings(config: GatewayConfig) -> dict[str, dict[str, Any]]:
    """The configuration as {section: {key: value}}; unset keys omitted, secrets masked."""
    out: dict[str, dict[str, Any]] = {}
    for section, key in config_keys():
        value = config_value(config, section, key)
        if value is None:
            continue  # TOML has no null: an unset optional key is simply absent
        if is_secret_key(key):
            value = f"<masked {describe_secret(str(value))}>"
        out.setdefault(section, {})[key] = value
    return out


def render_toml(config: GatewayConfig) -> str:
    """The configuration as a TOML document that loads back to the same settings."""
    lines: list[str] = []
    for section, values in effective_settings(config).items():
        if lines:
            lines.append("")
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
    return "\n".join(lines) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    # JSON string escapes are valid TOML basic-string escapes; TOML also forbids a raw DEL.
    return json.dumps(str(value)).replace("\x7f", "\\u007f")
