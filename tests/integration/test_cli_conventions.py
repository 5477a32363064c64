"""What every command shares: --version, completion from the parsers, plain help text,
required options shown as required, a quiet end on a closed stdout, errors naming the
service that failed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from endorse_ble import __version__
from endorse_ble.central.__main__ import COMMANDS as CENTRAL
from endorse_ble.exchange.__main__ import COMMANDS as EXCHANGE
from endorse_ble.peripheral.__main__ import COMMANDS as PERIPHERAL
from endorse_ble.testbed.__main__ import COMMANDS as TESTBED
from endorse_ble.testbed.endorse_keys import EndorseSigner, SimIdentity
from tests.central_cli import user_env

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = {
    "endorse-peripheral": ("endorse_ble.peripheral", list(PERIPHERAL)),
    "endorse-central": ("endorse_ble.central", list(CENTRAL)),
    "endorse-exchange": ("endorse_ble.exchange", list(EXCHANGE)),
    "endorse-testbed": ("endorse_ble.testbed", list(TESTBED)),
}
EVERY_COMMAND = [
    (prog, sub) for prog, (_, subs) in PROGRAMS.items() for sub in [None, *subs, "completion"]
]
# A word cut at a hyphen across two lines: "--write-" then "profile".
MID_WORD_BREAK = re.compile(r"[A-Za-z]-\n\s*[a-z]")


def _run(
    module: str, *args: str, home: Path, stdin: str = "", stdout: int | None = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env={**user_env(home), "PYTHONPATH": str(REPO), "COLUMNS": "80"},
        input=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(("prog", "sub"), EVERY_COMMAND)
def test_version_and_plain_help_everywhere(prog: str, sub: str | None, tmp_path: Path) -> None:
    module = PROGRAMS[prog][0]
    words = [sub] if sub else []
    version = _run(module, *words, "--version", home=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout == f"{' '.join([prog, *words])} (endorse-ble) {__version__}\n"
    helped = _run(module, *words, "--help", home=tmp_path)
    assert helped.returncode == 0, helped.stderr
    text = helped.stdout
    assert "``" not in text
    assert not re.search(r":(class|func|mod|meth):", text)
    assert not MID_WORD_BREAK.search(text), text


@pytest.mark.parametrize("prog", sorted(PROGRAMS))
@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_come_from_the_parsers(prog: str, shell: str, tmp_path: Path) -> None:
    module, subcommands = PROGRAMS[prog]
    done = _run(module, "completion", shell, home=tmp_path)
    assert done.returncode == 0, done.stderr
    for sub in subcommands:
        assert sub in done.stdout
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    script = tmp_path / f"complete.{shell}"
    script.write_text(done.stdout)
    checked = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_bash_completion_offers_subcommands_and_options(tmp_path: Path) -> None:
    script = _run("endorse_ble.peripheral", "completion", "bash", home=tmp_path).stdout
    (tmp_path / "c.bash").write_text(script)
    probe = (
        f"source {tmp_path / 'c.bash'}\n"
        "COMP_WORDS=(endorse-peripheral check-config --); COMP_CWORD=2\n"
        'COMP_LINE="endorse-peripheral check-config --"; COMP_POINT=${#COMP_LINE}\n'
        "_shtab_endorse_peripheral endorse-peripheral -- check-config\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=60)
    assert {"--offline", "--config", "--json"} <= set(done.stdout.split()), done.stderr


def test_required_options_show_as_required(tmp_path: Path) -> None:
    usage = _run("endorse_ble.central", "credential-process", "--help", home=tmp_path).stdout
    assert re.search(r"(?<!\[)--profile NAME(?!\])", usage)
    missing = _run("endorse_ble.central", "credential-process", home=tmp_path)
    assert missing.returncode == 2
    assert "the following arguments are required: --profile" in missing.stderr


def _token() -> str:
    return EndorseSigner().mint(SimIdentity(), request_parameters={"nonce": "n" * 16})


def test_a_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    """``inspect --json | head`` where head has gone: no traceback, SIGPIPE's status."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = _run(
            "endorse_ble.central", "inspect", "--json", home=tmp_path, stdin=_token(),
            stdout=write_end,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")


def test_an_unreachable_keystore_is_blamed_not_the_exchange(tmp_path: Path) -> None:
    done = _run(
        "endorse_ble.central", "inspect", "--verify", "--keystore", "http://127.0.0.1:9/",
        home=tmp_path, stdin=_token(),
    )  # fmt: skip
    assert done.returncode == 5
    (line,) = done.stderr.splitlines()
    assert line.startswith("endorse-central: the keystore did not give the key (unreachable")
    assert "exchange" not in line


def test_testbed_endorse_help_shows_defaults(tmp_path: Path) -> None:
    text = " ".join(_run("endorse_ble.testbed", "endorse", "--help", home=tmp_path).stdout.split())
    for shown in ("(default: 127.0.0.1)", "(default: 600)", "(default: none)", "(default: 0"):
        assert shown in text
