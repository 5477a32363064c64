"""credentials, inspect, logout and the dispatcher, run as the user would."""

from __future__ import annotations

import configparser
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from endorse_ble.central import credentials_cmd, inspect_cmd, logout_cmd
from endorse_ble.central.credential_cache import CredentialCache
from endorse_ble.central.paths import credentials_cache_dir
from endorse_ble.central.process_json import format_utc
from endorse_ble.testbed.endorse_keys import EndorseSigner, SimIdentity
from tests.central_cli import parse, signer_source, user_env
from tests.scripted_http import Reply, Script, scripted_server

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t/with+slash"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in user_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    return tmp_path


@pytest.fixture
def exchange() -> Iterator[tuple[str, Script]]:
    with scripted_server() as (url, script):
        body = {
            "credentials": {
                "AccessKeyId": "ASIAFRESHFRESH000001",
                "SecretAccessKey": SECRET,
                "SessionToken": "tok==",
                "Expiration": format_utc(int(time.time()) + 900),
            },
            "subject": {"imsi": "440103123456789", "imei": "356938035643809"},
        }
        script.reply = Reply(200, json.dumps(body).encode())
        yield url, script


def test_credentials_exports_eval_in_bash(
    home: Path, exchange: tuple[str, Script], capsys: pytest.CaptureFixture[str]
) -> None:
    """The default output is bash exports that set the AWS variables when evaluated."""
    url, _ = exchange
    args = parse("endorse_ble.central.credentials_cmd", ["--exchange-url", url])
    assert credentials_cmd.execute(args, signer_source(EndorseSigner())) == 0
    out, err = capsys.readouterr()
    assert SECRET not in err
    done = subprocess.run(
        ["bash", "-c", out + 'printf "%s" "$AWS_SECRET_ACCESS_KEY"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == SECRET


def test_credentials_json(
    home: Path, exchange: tuple[str, Script], capsys: pytest.CaptureFixture[str]
) -> None:
    """--json prints the credential_process fields plus the subject."""
    url, _ = exchange
    args = parse("endorse_ble.central.credentials_cmd", ["--exchange-url", url, "--json"])
    assert credentials_cmd.execute(args, signer_source(EndorseSigner())) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["Version"] == 1
    assert body["SecretAccessKey"] == SECRET
    assert body["Subject"] == {"imsi": "440103123456789", "imei": "356938035643809"}


def test_credentials_write_profile(
    home: Path, exchange: tuple[str, Script], capsys: pytest.CaptureFixture[str]
) -> None:
    """--write-profile fills [NAME] of $AWS_SHARED_CREDENTIALS_FILE, keeps the rest, no stdout."""
    url, _ = exchange
    path = home / "aws" / "credentials"
    path.parent.mkdir()
    path.write_text("# mine\n[default]\naws_access_key_id = AKIAKEEP\n")
    args = parse(
        "endorse_ble.central.credentials_cmd", ["--exchange-url", url, "--write-profile", "gw"]
    )
    assert credentials_cmd.execute(args, signer_source(EndorseSigner())) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "wrote [gw]" in err and SECRET not in err
    ini = configparser.RawConfigParser()
    ini.read(path)
    assert ini["gw"]["aws_secret_access_key"] == SECRET
    assert ini["default"]["aws_access_key_id"] == "AKIAKEEP"
    assert path.read_text().startswith("# mine\n")


def test_exchange_url_from_profile_in_config(
    home: Path, exchange: tuple[str, Script], capsys: pytest.CaptureFixture[str]
) -> None:
    """The profile's exchange_url from config.toml is used when no flag is given."""
    url, script = exchange
    config = home / "config" / "endorse-ble" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[profiles.gw]\nexchange_url = "{url}"\n')
    args = parse("endorse_ble.central.credentials_cmd", ["--profile", "gw", "--json"])
    assert credentials_cmd.execute(args, signer_source(EndorseSigner())) == 0
    assert len(script.requests) == 1


def test_logout(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """logout --profile forgets one profile, --all every profile."""
    cache = CredentialCache(credentials_cache_dir())
    fields = {
        "AccessKeyId": "ASIAX",
        "SecretAccessKey": "s",
        "SessionToken": "t",
        "Expiration": format_utc(int(time.time()) + 900),
    }
    for name in ("a", "b", "c"):
        cache.store(name, fields)
    assert logout_cmd.execute(parse("endorse_ble.central.logout_cmd", ["--profile", "a"])) == 0
    assert cache.profiles() == ["b", "c"]
    assert logout_cmd.execute(parse("endorse_ble.central.logout_cmd", ["--all"])) == 0
    assert cache.profiles() == []
    assert "nothing cached" not in capsys.readouterr().err
    assert logout_cmd.execute(parse("endorse_ble.central.logout_cmd", ["--all"])) == 0
    assert "nothing cached" in capsys.readouterr().err


@pytest.fixture
def keystore() -> Iterator[tuple[str, Script, EndorseSigner]]:
    signer = EndorseSigner()
    with scripted_server() as (url, script):
        script.reply = Reply(200, signer.public_pem(), {"Content-Type": "application/x-pem-file"})
        yield url + "keys/", script, signer


def _inspect(tmp_path: Path, token: str, *flags: str) -> int:
    path = tmp_path / "token.jwt"
    path.write_text(token + "\n")
    return inspect_cmd.run(parse("endorse_ble.central.inspect_cmd", [str(path), *flags]))


def test_inspect_shows_identity_and_time_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """inspect prints IMSI, IMEI and the expiry, never the token."""
    token = EndorseSigner().mint(SimIdentity(), lifetime=600)
    assert _inspect(tmp_path, token) == 0
    out = capsys.readouterr().out
    assert "440103123456789" in out and "356938035643809" in out
    assert "9m 5" in out  # 9m 5Xs left of 600 s
    assert token not in out and token.split(".")[2] not in out


def test_inspect_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json gives the claims and the nonce as data."""
    token = EndorseSigner().mint(SimIdentity(), request_parameters={"nonce": "abcdefgh12"})
    assert _inspect(tmp_path, token, "--json") == 0
    body = json.loads(capsys.readouterr().out)
    assert body["imsi"] == "440103123456789"
    assert body["nonce"] == "abcdefgh12"
    assert body["expired"] is False


def test_inspect_verify(
    tmp_path: Path,
    keystore: tuple[str, Script, EndorseSigner],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--verify fetches <keystore><kid> and checks the RS256 signature."""
    url, script, signer = keystore
    assert _inspect(tmp_path, signer.mint(SimIdentity()), "--verify", "--keystore", url) == 0
    assert "valid RS256" in capsys.readouterr().out
    assert script.requests[0][1] == f"/keys/{signer.kid}"


def test_inspect_verify_refuses_a_forged_token(
    tmp_path: Path,
    keystore: tuple[str, Script, EndorseSigner],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A token signed by another key with the same kid fails with exit code 4."""
    url, _, signer = keystore
    forger = EndorseSigner(kid=signer.kid)
    assert _inspect(tmp_path, forger.mint(SimIdentity()), "--verify", "--keystore", url) == 4
    assert "does not verify" in capsys.readouterr().err


@pytest.mark.parametrize("kid", ["../../etc/passwd", "v1-abc-x509.pem", "http://evil/x"])
def test_inspect_verify_refuses_hostile_kid_without_fetching(
    tmp_path: Path, keystore: tuple[str, Script, EndorseSigner], kid: str
) -> None:
    """A kid outside the Endorse pattern never names a URL."""
    url, script, _ = keystore
    token = EndorseSigner(kid=kid).mint(SimIdentity())
    assert _inspect(tmp_path, token, "--verify", "--keystore", url) == 4
    assert script.requests == []


@pytest.mark.parametrize("content", ["not a token", "a.b.c", ""])
def test_inspect_malformed(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Malformed input is one line on stderr and exit code 1."""
    assert _inspect(tmp_path, content) == 1
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize(
    "command", ["scan", "status", "token", "inspect", "credentials", "credential-process", "logout"]
)
def test_every_command_has_help(command: str, home: Path) -> None:
    """Each registered subcommand loads and prints its help."""
    done = subprocess.run(
        [sys.executable, "-m", "endorse_ble.central", command, "--help"],
        cwd=ROOT,
        env=user_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: endorse-central" in done.stdout


def test_main_help_lists_exit_codes_and_aws_lines(home: Path) -> None:
    """The top-level help documents exit codes and the credential_process line."""
    done = subprocess.run(
        [sys.executable, "-m", "endorse_ble.central", "--help"],
        cwd=ROOT,
        env=user_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "credential_process = endorse-credential-process --profile gw" in done.stdout
    assert "exit codes:" in done.stdout


@pytest.mark.skipif(sys.platform != "linux", reason="BlueZ is reached over the system D-Bus")
@pytest.mark.parametrize(
    "argv",
    [
        ["scan", "--scan-timeout", "1"],
        ["status", "--scan-timeout", "1"],
        ["token", "--challenge", "--scan-timeout", "1"],
    ],
)
def test_no_bluetooth_is_one_line_of_advice(home: Path, tmp_path: Path, argv: list[str]) -> None:
    """Without a reachable Bluetooth stack, BLE commands say so in one line, exit code 3."""
    env = user_env(home)
    env["DBUS_SYSTEM_BUS_ADDRESS"] = f"unix:path={tmp_path / 'no-such-bus'}"
    done = subprocess.run(
        [sys.executable, "-m", "endorse_ble.central", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.startswith("endorse-central: Bluetooth is unavailable")
    assert done.stderr.count("\n") == 1
