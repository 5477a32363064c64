"""Whole-process wall time of a cached ``credential-process`` against ``python -c pass``.

The AWS CLI starts credential_process for every command, so a cache hit must cost little
more than starting Python. Seeds a valid cache entry in a temporary HOME, then runs each
command N times, interleaved, and compares medians. The gated figure is the documented
``endorse-credential-process``, the console entry point pip wrote beside this interpreter
(run by its shebang, as the AWS CLI runs it); ``endorse-central credential-process`` (the
same wrapper, one argument more) and ``-m endorse_ble.central`` (runpy) are printed for
information. Exit status 1 if the ratio exceeds the target.

    python -m bench.credential_process [--runs N] [--target 1.5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import iterations, verdict
from endorse_ble.central.credential_cache import CredentialCache, render_process_json
from endorse_ble.central.paths import credentials_cache_dir
from endorse_ble.central.process_json import format_utc

PROFILE = "bench"
ROOT = Path(__file__).resolve().parent.parent

#: The console scripts pip installed beside this interpreter (make setup's venv).
SCRIPTS = Path(sys.executable).parent


def _seed(env: dict[str, str]) -> str:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        cache = CredentialCache(credentials_cache_dir())
        fields = {
            "AccessKeyId": "ASIABENCHMARK0000001",
            "SecretAccessKey": "s" * 40,
            "SessionToken": "T" * 1200,
            "Expiration": format_utc(int(time.time()) + 3600),
        }
        cache.store(PROFILE, fields)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return render_process_json(fields) + "\n"


def _time(argv: list[str], env: dict[str, str], expected: str | None) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or (expected is not None and done.stdout != expected):
        raise SystemExit(f"{argv[1:3]} failed: rc={done.returncode} {done.stderr.strip()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=iterations(40, 3))
    parser.add_argument("--target", type=float, default=1.5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
        env.update(HOME=home, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="")
        expected = _seed(env)
        py = sys.executable
        commands = {
            "python -c pass": ([py, "-c", "pass"], None),
            "endorse-credential-process": (
                [str(SCRIPTS / "endorse-credential-process"), "--profile", PROFILE],
                expected,
            ),
            "endorse-central ...": (
                [str(SCRIPTS / "endorse-central"), "credential-process", "--profile", PROFILE],
                expected,
            ),
            "python -m endorse_ble.central": (
                [py, "-m", "endorse_ble.central", "credential-process", "--profile", PROFILE],
                expected,
            ),
        }
        for argv, want in commands.values():  # warm the page cache and write .pyc files
            _time(argv, env, want)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, (argv, want) in commands.items():
                samples[name].append(_time(argv, env, want))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["python -c pass"]
    print(f"runs per command: {args.runs} (interleaved), medians:")
    for name, value in medians.items():
        print(f"  {name:<28} {value * 1000:7.1f} ms  x{value / base:.2f}")
    ratio = medians["endorse-credential-process"] / base
    met = "OK" if ratio <= args.target else "MISSED"
    print(
        f"cached credential-process / python -c pass = {ratio:.2f} (target <= {args.target}) {met}"
    )
    return verdict(ratio <= args.target)


if __name__ == "__main__":
    sys.exit(main())
