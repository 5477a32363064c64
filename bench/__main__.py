"""Run every benchmark in its own process (``make bench``); exit 1 if any missed its target.

``--quick``: few iterations each (``make bench-quick``, run by CI); exit 1 only if a
benchmark broke (crashed or failed to run end to end), targets are not gated.
"""

from __future__ import annotations

import argparse
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

from bench import QUICK_ENV


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few iterations; targets not gated")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.quick:
        env[QUICK_ENV] = "1"
    names = sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name != "__main__"
    )
    failed = []
    for name in names:
        print(f"\n=== bench.{name}", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}"], env=env, check=False).returncode:
            failed.append(name)
    if args.quick:
        print(f"\n{len(names) - len(failed)} of {len(names)} benchmarks ran (quick)", end="")
        print(f"; broken: {', '.join(failed)}" if failed else "")
    else:
        print(f"\n{len(names) - len(failed)} of {len(names)} benchmarks met their targets", end="")
        print(f"; missed: {', '.join(failed)}" if failed else "")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
