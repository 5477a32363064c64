"""``make stress``: the integration tier N times beside a CPU burner; list every flake.

A flake is a bug: on a busy machine a test that waits on a sleep instead of an event, or
bounds a wait too tightly, fails now and then. Each run writes a JUnit XML report; every
test that failed (or errored) at least once is listed with its count, and the exit status
is 1 if any did, or if a run ended without a report.

    python scripts/stress.py [--runs 5] [--burners 1] [--run-timeout 1800] [PYTEST_ARGS...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BURN = "while True: pass"


def failed_tests(report: Path) -> list[str]:
    """Node ids (``tests/x/test_y.py::test_z[param]``) of failed or errored test cases."""
    failed = []
    for case in ET.parse(report).iter("testcase"):  # noqa: S314 (our own pytest's reports)
        if case.find("failure") is None and case.find("error") is None:
            continue
        module, _, klass = case.get("classname", "").partition(".Test")
        path = module.replace(".", "/") + ".py"
        name = f"Test{klass}::{case.get('name')}" if klass else case.get("name", "")
        failed.append(f"{path}::{name}")
    return failed


def run_tier(report: Path, timeout: float, pytest_args: list[str]) -> str | None:
    """Run the integration tier once; a one-line problem if it ended without a report."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += [f"--junitxml={report}", *(pytest_args or ["tests/integration"])]
    try:
        done = subprocess.run(command, cwd=ROOT, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"did not end within {timeout:.0f} s"
    if not report.exists():
        return f"pytest exited with {done.returncode} and wrote no report"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/stress.py", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="how many times (default 5)")
    parser.add_argument("--burners", type=int, default=1, help="busy-loop processes beside")
    parser.add_argument("--run-timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument("pytest_args", nargs="*", help="default: tests/integration")
    args = parser.parse_args()

    counts: Counter[str] = Counter()
    broken: list[str] = []
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(args.burners)]
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="stress-") as tmp:
            for run in range(1, args.runs + 1):
                print(f"\n=== stress run {run} of {args.runs}", flush=True)
                report = Path(tmp) / f"run{run}.xml"
                problem = run_tier(report, args.run_timeout, args.pytest_args)
                if problem:
                    broken.append(f"run {run}: {problem}")
                else:
                    counts.update(failed_tests(report))
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()

    minutes = (time.monotonic() - started) / 60
    print(f"\n=== stress: {args.runs} runs, {args.burners} CPU burner(s), {minutes:.1f} min")
    for line in broken:
        print(f"BROKEN {line}")
    if not counts:
        print("no test failed" if not broken else "no test failed in the runs that reported")
    for test, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        print(f"FAILED {count}/{args.runs}  {test}")
    return 1 if counts or broken else 0


if __name__ == "__main__":
    sys.exit(main())
