"""credential-process: exact JSON from the cache in a real subprocess, the slow path, errors."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from endorse_ble.central import credential_process_cmd
from endorse_ble.central.credential_cache import CredentialCache, render_process_json
from endorse_ble.central.credential_flow import FreshToken
from endorse_ble.central.errors import BleReadError, ReadFailure
from endorse_ble.central.fast_credentials import FLAG_OPTIONS, VALUE_OPTIONS, parse_fast
from endorse_ble.central.paths import credentials_cache_dir
from endorse_ble.central.process_json import format_utc
from endorse_ble.testbed.endorse_keys import EndorseSigner
from tests.central_cli import failing_source, parse, signer_source, user_env
from tests.scripted_http import Reply, Script, scripted_server

ROOT = Path(__file__).resolve().parents[2]
CMD = "endorse_ble.central.credential_process_cmd"
FIELDS = {
    "AccessKeyId": "ASIACACHEDCACHED0001",
    "SecretAccessKey": "cached/secret+",
    "SessionToken": "cachedtoken==",
}
EXPECTED_IMPORT_FREE = ("bleak", "requests", "rich", "platformdirs", "json", "argparse", "re")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME with XDG and AWS paths inside it, for this process and subprocesses."""
    for name, value in user_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    return tmp_path


def seed(expires_in: int, profile: str = "gw") -> str:
    """Write a cache entry expiring in ``expires_in`` seconds; return the expected stdout."""
    fields = {**FIELDS, "Expiration": format_utc(int(time.time()) + expires_in)}
    CredentialCache(credentials_cache_dir()).store(profile, fields)
    return render_process_json(fields) + "\n"


def run_cli(home: Path, *argv: str, fast: bool = False) -> subprocess.CompletedProcess[str]:
    if fast:
        # the endorse-credential-process console entry point pip put beside this Python
        command = [str(Path(sys.executable).parent / "endorse-credential-process"), *argv]
    else:
        command = [sys.executable, "-m", "endorse_ble.central", "credential-process", *argv]
    # An installed script finds the package in its venv; from the source tree, say where.
    env = {**user_env(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "fast", [False, True], ids=["python-m-central", "endorse-credential-process"]
)
def test_cached_path_prints_exact_json(home: Path, fast: bool) -> None:
    """A valid cache entry is printed as the exact credential_process JSON, nothing else."""
    expected = seed(3600)
    done = run_cli(home, "--profile", "gw", "--name", "ignored-gw", fast=fast)
    assert (done.returncode, done.stdout, done.stderr) == (0, expected, "")
    body = json.loads(done.stdout)
    assert list(body) == ["Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"]
    assert body["Version"] == 1


def _imports(home: Path, *argv: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        cwd=ROOT,
        env=user_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return {line.split("|")[-1].strip() for line in done.stderr.splitlines()}


def test_cached_path_imports_only_the_stdlib(home: Path) -> None:
    """Beyond what starting Python imports here, the cached path imports none of bleak,
    requests, rich, platformdirs, json, argparse or re."""
    seed(3600)
    startup = _imports(home, "-c", "pass")
    imported = _imports(home, "-m", "endorse_ble.central", "credential-process", "--profile=gw")
    assert not (imported - startup) & set(EXPECTED_IMPORT_FREE)
    assert "endorse_ble.central.fast_credentials" in imported


@pytest.mark.parametrize("state", ["stale", "corrupt", "absent", "no-cache"])
def test_unusable_cache_falls_to_the_full_path(home: Path, state: str) -> None:
    """Stale (within the skew), corrupt or absent entries and --no-cache go to the real flow."""
    argv = ["--profile", "gw"]
    if state == "stale":
        seed(200)  # inside the default 300 s skew
    elif state == "corrupt":
        path = Path(credentials_cache_dir(), "gw.json")
        path.parent.mkdir(parents=True)
        path.write_text("{garbage")
        path.chmod(0o600)
    elif state == "no-cache":
        seed(3600)
        argv.append("--no-cache")
    done = run_cli(home, *argv)
    # No exchange is configured: the full CLI explains, on one line, and prints no JSON.
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "no exchange URL" in done.stderr


def test_skew_flag_is_honoured_by_the_fast_path(home: Path) -> None:
    """--skew 0 serves an entry that the default skew would refresh."""
    expected = seed(200)
    done = run_cli(home, "--profile", "gw", "--skew", "0", fast=True)
    assert (done.returncode, done.stdout) == (0, expected)


def test_fast_parser_knows_every_option() -> None:
    """The fast path's option tables equal credential-process's argparse definition."""
    import argparse

    parser = argparse.ArgumentParser()
    credential_process_cmd.configure(parser)
    values, flags = set(), set()
    for action in parser._actions:
        names = action.option_strings
        if not names or "--help" in names or "--no-cache" in names:
            continue
        # Every spelling counts: -v must stay on the fast path like --verbose.
        (values if action.nargs != 0 else flags).update(names)
    assert values == VALUE_OPTIONS
    assert flags == FLAG_OPTIONS


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--profile", "gw"], ("gw", 300.0)),
        (["--profile=gw", "--skew=60", "--pair"], ("gw", 60.0)),
        (["--name", "--profile", "--profile", "gw"], None),
        (["--name", "gw1", "--adapter=hci1", "--profile", "gw"], ("gw", 300.0)),
        (["--profile", "gw", "--no-cache"], None),
        (["--profile", "gw", "--help"], None),
        (["--profile", "gw", "--bogus"], None),
        (["--profile"], None),
        (["--skew", "60"], None),
        (["--profile", "gw", "--skew", "nan"], None),
        (["--profile", "gw", "--skew", "-1"], None),
        (["--profile", "a", "--profile", "b"], None),
    ],
)
def test_parse_fast(argv: list[str], expected: tuple[str, float] | None) -> None:
    """Only plain lookups take the fast path; anything else is left to argparse."""
    assert parse_fast(argv) == expected


@pytest.fixture
def fake_exchange() -> Iterator[tuple[str, Script]]:
    with scripted_server() as (url, script):
        script.reply = Reply(
            200,
            json.dumps(
                {
                    "credentials": {
                        **FIELDS,
                        "AccessKeyId": "ASIAFRESHFRESH000001",
                        "Expiration": format_utc(int(time.time()) + 900),
                    },
                    "subject": {"imsi": "440103123456789"},
                }
            ).encode(),
        )
        yield url, script


def test_miss_exchanges_then_serves_from_cache(
    home: Path, fake_exchange: tuple[str, Script], capsys: pytest.CaptureFixture[str]
) -> None:
    """A miss reads a fresh token, exchanges it with its nonce and caches 0600; then a hit."""
    url, script = fake_exchange
    calls: list[str] = []
    args = parse(
        "endorse_ble.central.credential_process_cmd", ["--profile", "gw", "--exchange-url", url]
    )
    source = signer_source(EndorseSigner(), calls=calls)
    assert credential_process_cmd.execute(args, token_source=source) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["AccessKeyId"] == "ASIAFRESHFRESH000001"
    assert err == ""
    assert json.loads(script.requests[0][2])["nonce"] == calls[0]
    cache_file = Path(credentials_cache_dir(), "gw.json")
    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
    # The next run is a cache hit, in a real subprocess, with the same bytes.
    done = run_cli(home, "--profile", "gw", "--exchange-url", url)
    assert (done.returncode, done.stdout) == (0, out)
    assert len(script.requests) == 1


def test_no_cache_neither_reads_nor_writes(
    home: Path, fake_exchange: tuple[str, Script], capsys: pytest.CaptureFixture[str]
) -> None:
    """--no-cache always asks the gateway and leaves no cache file."""
    url, script = fake_exchange
    args = parse(
        "endorse_ble.central.credential_process_cmd",
        ["--profile=gw", "--exchange-url", url, "--no-cache"],
    )
    assert credential_process_cmd.execute(args, token_source=signer_source(EndorseSigner())) == 0
    assert not Path(credentials_cache_dir(), "gw.json").exists()
    seed(3600)
    assert credential_process_cmd.execute(args, token_source=signer_source(EndorseSigner())) == 0
    assert len(script.requests) == 2  # the fresh entry was not read either


@pytest.mark.parametrize(
    ("reason", "exit_code", "advice"),
    [
        (ReadFailure.NOT_FOUND, 3, "endorse-central scan"),
        (ReadFailure.PAIRING_NEEDED, 3, "--pair"),
        (ReadFailure.CHALLENGE_FAILED, 3, "endorse-central status"),
        (ReadFailure.PROFILE, 1, "upgrade"),
    ],
)
def test_gateway_failures_are_one_line_on_stderr(
    home: Path,
    fake_exchange: tuple[str, Script],
    capsys: pytest.CaptureFixture[str],
    reason: ReadFailure,
    exit_code: int,
    advice: str,
) -> None:
    """A failed gateway read prints nothing on stdout and one line of advice on stderr."""
    args = parse(
        "endorse_ble.central.credential_process_cmd",
        ["--profile", "gw", "--exchange-url", fake_exchange[0]],
    )
    error = BleReadError(reason, "gateway speaks profile v2: upgrade endorse-ble on the laptop")
    assert credential_process_cmd.execute(args, token_source=failing_source(error)) == exit_code
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and advice in err


def test_unwritable_cache_still_prints(
    home: Path, fake_exchange: tuple[str, Script], capsys: pytest.CaptureFixture[str]
) -> None:
    """If the cache cannot be written the credentials are still printed, with a warning."""
    url, _ = fake_exchange
    blocker = Path(credentials_cache_dir())
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the cache dir should be")
    args = parse(
        "endorse_ble.central.credential_process_cmd", ["--profile", "gw", "--exchange-url", url]
    )
    assert credential_process_cmd.execute(args, token_source=signer_source(EndorseSigner())) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["Version"] == 1
    assert err.startswith("endorse-central: warning: not cached")


def test_concurrent_misses_read_the_gateway_once(
    home: Path, fake_exchange: tuple[str, Script], capsys: pytest.CaptureFixture[str]
) -> None:
    """A second run that misses while the first is refreshing waits and uses its result."""
    import threading

    url, script = fake_exchange
    inside, release = threading.Event(), threading.Event()
    calls: list[str] = []
    mint = signer_source(EndorseSigner(), calls=calls)

    def slow_source() -> FreshToken:
        inside.set()
        assert release.wait(30)
        return mint()

    argv = ["--profile", "gw", "--exchange-url", url]
    codes: list[int] = []
    first = threading.Thread(
        target=lambda: codes.append(
            credential_process_cmd.execute(parse(CMD, argv), token_source=slow_source)
        )
    )
    first.start()
    assert inside.wait(30)
    # The first run holds the lock inside its token read; the second must wait for it.
    second = threading.Thread(
        target=lambda: codes.append(
            credential_process_cmd.execute(parse(CMD, argv), token_source=mint)
        )
    )
    second.start()
    release.set()
    first.join(30)
    second.join(30)
    assert codes == [0, 0]
    assert len(calls) == 1 and len(script.requests) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0] == lines[1]


def test_short_lived_credentials_warn_about_the_skew(
    home: Path, fake_exchange: tuple[str, Script], capsys: pytest.CaptureFixture[str]
) -> None:
    """Credentials shorter than the skew are printed, with a warning that caching is moot."""
    url, _ = fake_exchange
    args = parse(CMD, ["--profile", "gw", "--exchange-url", url, "--skew", "3600"])
    assert credential_process_cmd.execute(args, token_source=signer_source(EndorseSigner())) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["Version"] == 1
    assert "lower --skew" in err


def test_an_exchange_that_is_down_is_found_before_a_fresh_token_is_spent(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each fresh token costs the gateway a metered Endorse request and a share of its
    budget: with the exchange refusing connections, the gateway is never asked."""
    calls: list[str] = []
    args = parse(CMD, ["--profile", "gw", "--exchange-url", "http://127.0.0.1:9/"])
    code = credential_process_cmd.execute(
        args, token_source=signer_source(EndorseSigner(), calls=calls)
    )
    assert code == 5
    assert calls == []
    assert "cannot reach the exchange" in capsys.readouterr().err
