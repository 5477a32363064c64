"""Run every benchmark in its own process (``make bench``); exit 1 if any missed its target."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path


def main() -> None:
    names = sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name != "__main__"
    )
    failed = []
    for name in names:
        print(f"\n=== bench.{name}", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False).returncode:
            failed.append(name)
    print(f"\n{len(names) - len(failed)} of {len(names)} benchmarks met their targets", end="")
    print(f"; missed: {', '.join(failed)}" if failed else "")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
