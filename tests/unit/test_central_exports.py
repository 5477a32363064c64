"""Shell exports quote hostile values so each shell reads them back literally."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from endorse_ble.central.exports import Shell, assignment, quote_powershell, render_exports

HOSTILE = [
    "plain",
    "it's",
    "'; touch PWNED; '",
    '"$(touch PWNED)"',
    "`touch PWNED`",
    "$HOME ${HOME} $((1+1))",
    "line1\nline2\n",
    "back\\slash\\",
    "\\'",
    "tab\tand\rcr",
    "\u2018smart\u2019 \u201a\u201b quotes",
    "",
    "--not-an-option",
    "!event",
    "é ü 漢字",
]
# NUL cannot live in an environment variable; everything else must survive.
any_value = st.text(alphabet=st.characters(blacklist_characters="\0", codec="utf-8"), max_size=30)


def read_back(shell: Shell, values: list[str], workdir: Path) -> list[str]:
    """Evaluate the exports in a real shell and print the variables NUL-separated."""
    names = [f"V{i}" for i in range(len(values))]
    script = render_exports(shell, list(zip(names, values, strict=True)))
    if shell is Shell.FISH:
        script += "".join(f'printf "%s\\0" "${n}"\n' for n in names)
        argv = ["fish", "--no-config", "-c", script]
    elif shell is Shell.POWERSHELL:
        script += "".join(f"[Console]::Out.Write($Env:{n} + [char]0)\n" for n in names)
        argv = ["pwsh", "-NoProfile", "-NonInteractive", "-Command", script]
    else:
        script += "".join(f'printf "%s\\0" "${n}"\n' for n in names)
        argv = [shell.value, "-c", script]
    out = subprocess.run(argv, cwd=workdir, capture_output=True, check=True, timeout=30).stdout
    return out.decode("utf-8").split("\0")[:-1]


def shells() -> list[object]:
    found = []
    for shell in Shell:
        binary = {"powershell": "pwsh"}.get(shell.value, shell.value)
        mark = pytest.mark.skipif(shutil.which(binary) is None, reason=f"{binary} not installed")
        found.append(pytest.param(shell, marks=mark, id=shell.value))
    return found


@pytest.mark.parametrize("shell", shells())
def test_hostile_values_read_back_literally(shell: Shell, tmp_path: Path) -> None:
    """Quotes, $, backticks, newlines and smart quotes come back unchanged and run nothing."""
    assert read_back(shell, HOSTILE, tmp_path) == HOSTILE
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(any_value, min_size=1, max_size=4))
def test_any_value_survives_bash(values: list[str], tmp_path: Path) -> None:
    """Whatever the text (without NUL), bash reads back exactly that text."""
    assert read_back(Shell.BASH, values, tmp_path) == values


@pytest.mark.parametrize("shell", list(Shell))
def test_nul_is_refused(shell: Shell) -> None:
    """A NUL cannot be exported in any shell, so it is an error rather than a truncation."""
    with pytest.raises(ValueError):
        assignment(shell, "V", "a\0b")


@pytest.mark.parametrize("name", ["1A", "A-B", "A B", "A;rm", ""])
def test_variable_names_are_identifiers(name: str) -> None:
    """Only identifier-like names are accepted (they are not quoted)."""
    with pytest.raises((ValueError, IndexError)):
        assignment(Shell.BASH, name, "v")


def test_powershell_doubles_every_single_quote_form() -> None:
    """PowerShell treats U+2018..U+201B as single quotes: each is doubled inside '...'."""
    assert quote_powershell("a'b\u2018c\u2019d\u201ae\u201bf") == (
        "'a''b\u2018\u2018c\u2019\u2019d\u201a\u201ae\u201b\u201bf'"
    )


@pytest.mark.parametrize(
    ("shell", "line"),
    [
        (Shell.BASH, "export AWS_X='it'\\''s'\n"),
        (Shell.ZSH, "export AWS_X='it'\\''s'\n"),
        (Shell.FISH, "set -gx AWS_X 'it\\'s'\n"),
        (Shell.POWERSHELL, "$Env:AWS_X = 'it''s'\n"),
    ],
)
def test_syntax_per_shell(shell: Shell, line: str) -> None:
    """Each dialect uses its own assignment syntax."""
    assert render_exports(shell, [("AWS_X", "it's")]) == line
