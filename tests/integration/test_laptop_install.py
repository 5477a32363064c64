"""The laptop install of docs/laptop-cli.md: the wheel ``make dist`` builds, installed
with pipx into a fresh venv, gives working ``endorse-central`` and credential_process.

pipx comes from PyPI (the dev extra); the libraries come through pip's cache, so this
costs seconds once ``make setup`` has run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from endorse_ble import __version__
from endorse_ble.central.credential_cache import CredentialCache, render_process_json
from endorse_ble.central.paths import credentials_cache_dir
from endorse_ble.central.process_json import format_utc
from tests.central_cli import user_env

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(argv: list[str], env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def pipx_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pipx install 'endorse_ble-*.whl[central]'`` into a private PIPX_HOME: its bin dir."""
    base = tmp_path_factory.mktemp("pipx")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPX_", "VIRTUAL_ENV"))}
    env.update(PIPX_HOME=str(base / "home"), PIPX_BIN_DIR=str(base / "bin"))
    _run([str(BIN / "python"), "-m", "build", "--wheel", "--outdir", str(base), str(REPO)], env)
    (wheel,) = base.glob("endorse_ble-*.whl")
    _run([str(BIN / "pipx"), "install", f"{wheel}[central]"], env)
    return base / "bin"


def test_every_command_is_installed_and_says_its_version(pipx_bin: Path) -> None:
    for command in ("endorse-central", "endorse-credential-process"):
        out = _run([str(pipx_bin / command), "--version"], dict(os.environ))
        assert out.strip().endswith(f"(endorse-ble) {__version__}")


def test_credential_process_answers_from_the_cache(pipx_bin: Path, tmp_path: Path) -> None:
    """The line the guide puts in ~/.aws/config, run as the AWS CLI runs it."""
    env = user_env(tmp_path)
    fields = {
        "AccessKeyId": "ASIAPIPXINSTALLED001",
        "SecretAccessKey": "secret",
        "SessionToken": "token",
        "Expiration": format_utc(int(time.time()) + 3600),
    }
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        CredentialCache(credentials_cache_dir()).store("gw", fields)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    out = _run([str(pipx_bin / "endorse-credential-process"), "--profile", "gw"], env)
    assert out == render_process_json(fields) + "\n"
    assert json.loads(out)["Version"] == 1


def test_the_laptop_cli_runs_with_its_libraries(pipx_bin: Path, tmp_path: Path) -> None:
    """inspect needs PyJWT, rich and the rest of [central]: all in the pipx venv."""
    env = user_env(tmp_path)
    done = subprocess.run(
        [str(pipx_bin / "endorse-central"), "inspect", "--json"],
        input="not-a-token",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    completion = _run([str(pipx_bin / "endorse-central"), "completion", "bash"], env)
    assert "credential-process" in completion
