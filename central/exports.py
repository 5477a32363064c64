"""Credentials as environment-variable assignments for bash, zsh, fish and PowerShell.

Each value is quoted so that the shell takes it literally, whatever it contains: the
credentials come from the network. Rules followed:

- bash/zsh (POSIX sh, 2.2.2 Single-Quotes): nothing is special inside '...'; a quote is
  written as ``'\\''`` (close, escaped quote, reopen).
- fish (fish docs, "Quotes"): inside '...' only ``\\'`` and ``\\\\`` are escapes.
- PowerShell (about_Quoting_Rules): inside '...' a quote is doubled; PowerShell also takes
  the typographic quotes U+2018..U+201B as single quotes, so they are doubled too.

NUL cannot be in an environment variable in any of them, so it is refused.
"""

from __future__ import annotations

import enum

from endorse_ble.central.credentials import AwsCredentials


class Shell(enum.Enum):
    """The output dialects of ``credentials --format``."""

    BASH = "bash"
    ZSH = "zsh"
    FISH = "fish"
    POWERSHELL = "powershell"


_PS_QUOTES = "'\u2018\u2019\u201a\u201b"


def _check(value: str) -> None:
    if "\0" in value:
        raise ValueError("a NUL character cannot be exported")


def quote_posix(value: str) -> str:
    """``value`` as one literal word for bash, zsh and other POSIX shells."""
    _check(value)
    return "'" + value.replace("'", "'\\''") + "'"


def quote_fish(value: str) -> str:
    """``value`` as one literal word for fish."""
    _check(value)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_powershell(value: str) -> str:
    """``value`` as a literal single-quoted PowerShell string."""
    _check(value)
    return "'" + "".join(c + c if c in _PS_QUOTES else c for c in value) + "'"


def assignment(shell: Shell, name: str, value: str) -> str:
    """One line that sets the exported variable ``name`` (a plain identifier) to ``value``."""
    if not (name.isascii() and name.replace("_", "a").isalnum() and not name[0].isdigit()):
        raise ValueError(f"{name!r} is not a variable name")
    if shell is Shell.FISH:
        return f"set -gx {name} {quote_fish(value)}"
    if shell is Shell.POWERSHELL:
        return f"$Env:{name} = {quote_powershell(value)}"
    return f"export {name}={quote_posix(value)}"


def environment(credentials: AwsCredentials) -> list[tuple[str, str]]:
    """The variables the AWS CLI and SDKs read, in a stable order."""
    return [
        ("AWS_ACCESS_KEY_ID", credentials.access_key_id),
        ("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key),
        ("AWS_SESSION_TOKEN", credentials.session_token),
        ("AWS_CREDENTIAL_EXPIRATION", credentials.expiration),
    ]


def render_exports(shell: Shell, variables: list[tuple[str, str]]) -> str:
    """The lines that export ``variables`` in ``shell``, newline-terminated."""
    return "".join(assignment(shell, name, value) + "\n" for name, value in variables)
