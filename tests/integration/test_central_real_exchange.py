"""The laptop CLI against the real local exchange on moto, and the real AWS CLI using it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from endorse_ble.central import credential_process_cmd, credentials_cmd
from endorse_ble.central.credential_flow import FreshToken
from endorse_ble.central.paths import credentials_cache_dir
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.endorse_keys import SimIdentity
from endorse_ble.testbed.exchange.pytest_fixtures import RunningExchange
from tests.central_cli import parse, signer_source, user_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in user_env(tmp_path).items():
        if not name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    return tmp_path


def fixed_source(token: str, nonce: str | None) -> Callable[[], FreshToken]:
    return lambda: FreshToken(token, nonce)


def _process(url: str, source: Callable[[], FreshToken], *extra: str) -> int:
    args = parse(
        "endorse_ble.central.credential_process_cmd",
        ["--profile", "gw", "--exchange-url", url, *extra],
    )
    return credential_process_cmd.execute(args, token_source=source)


def test_fresh_token_becomes_cached_credentials(
    home: Path,
    local_exchange: RunningExchange,
    exchange_endorse: EndorseSimulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A nonce-bound token from the gateway turns into STS credentials, cached 0600."""
    source = signer_source(exchange_endorse.signer)
    assert _process(local_exchange.url, source) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["Version"] == 1 and body["AccessKeyId"].startswith("ASIA")
    assert Path(credentials_cache_dir(), "gw.json").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("case", "exit_code", "advice"),
    [
        ("replayed", 4, "already seen this token"),
        ("foreign-imsi", 4, "allow this SIM's IMSI"),
        ("nonce-mismatch", 4, "another request's nonce"),
        ("expired", 4, "retry"),
        ("forged", 4, "signature does not verify"),
    ],
)
def test_exchange_refusals_reach_the_user_as_advice(
    home: Path,
    local_exchange: RunningExchange,
    exchange_endorse: EndorseSimulator,
    capsys: pytest.CaptureFixture[str],
    case: str,
    exit_code: int,
    advice: str,
) -> None:
    """Each refusal of the real exchange is one line of advice and a documented exit code."""
    signer = exchange_endorse.signer
    nonce = "abcdefgh1234"
    sim = SimIdentity()
    if case == "replayed":
        token = signer.mint(sim, request_parameters={"nonce": nonce})
        assert _process(local_exchange.url, fixed_source(token, nonce), "--no-cache") == 0
        capsys.readouterr()
    elif case == "foreign-imsi":
        token = signer.mint(
            SimIdentity(imsi="440109999999999"), request_parameters={"nonce": nonce}
        )
    elif case == "nonce-mismatch":
        token = signer.mint(sim, request_parameters={"nonce": "someone-elses"})
    elif case == "expired":
        token = signer.mint(sim, now=time.time() - 3600, request_parameters={"nonce": nonce})
    else:
        from endorse_ble.testbed.endorse_keys import EndorseSigner

        token = EndorseSigner(kid=signer.kid).mint(sim, request_parameters={"nonce": nonce})
    assert _process(local_exchange.url, fixed_source(token, nonce), "--no-cache") == exit_code
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and advice in err, err


def test_exchange_down_is_a_clear_message(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With the exchange stopped the message says it cannot be reached (exit 5)."""
    from endorse_ble.testbed.exchange.pytest_fixtures import closed_port_url

    assert _process(closed_port_url() + "/", fixed_source("a.b.c", None)) == 5
    assert "cannot reach the exchange" in capsys.readouterr().err


def _aws(home: Path, moto_server: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = user_env(home)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(name, None)
    env.update(
        AWS_ENDPOINT_URL=moto_server,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return subprocess.run(
        [sys.executable, "-m", "awscli", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_aws_cli_uses_credential_process_from_the_cache(
    home: Path,
    local_exchange: RunningExchange,
    exchange_endorse: EndorseSimulator,
    moto_server: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The real AWS CLI (v1) runs our credential_process line and signs a call with it."""
    assert _process(local_exchange.url, signer_source(exchange_endorse.signer)) == 0
    assert json.loads(capsys.readouterr().out)["Version"] == 1
    config = home / "aws" / "config"
    config.parent.mkdir(exist_ok=True)
    config.write_text(
        "[profile gw]\n"
        f"credential_process = {Path(sys.executable).parent / 'endorse-credential-process'} "
        "--profile gw\n"
    )
    done = _aws(home, moto_server, "--profile", "gw", "sts", "get-caller-identity")
    assert done.returncode == 0, done.stderr
    assert "assumed-role" in json.loads(done.stdout)["Arn"]


def test_write_profile_is_usable_by_the_aws_cli(
    home: Path,
    local_exchange: RunningExchange,
    exchange_endorse: EndorseSimulator,
    moto_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """credentials --write-profile produces a profile the AWS CLI signs with."""
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws" / "credentials"))
    args = parse(
        "endorse_ble.central.credentials_cmd",
        ["--exchange-url", local_exchange.url, "--write-profile", "gw"],
    )
    assert credentials_cmd.execute(args, signer_source(exchange_endorse.signer)) == 0
    done = _aws(home, moto_server, "--profile", "gw", "sts", "get-caller-identity")
    assert done.returncode == 0, done.stderr
    assert "assumed-role" in json.loads(done.stdout)["Arn"]
