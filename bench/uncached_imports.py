"""Interpreter start and imports of an uncached laptop run, against ``python -c pass``.

An uncached ``credential-process`` or ``credentials`` run imports the CLI, the BLE adapter
(bleak) and the HTTP adapter (requests) before it can do anything; everything a path does
not use is imported only when it is used. Runs, interleaved, ``python -c pass`` and a
``python -c "import ..."`` of exactly the modules such a run loads, and compares medians.
Target: at most 0.25 s for start and imports (issue 12). Exit status 1 if missed.

    python -m bench.uncached_imports
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from bench import iterations, verdict

RUNS = iterations(15, 3)
TARGET_SECONDS = 0.25
#: What an uncached run imports before its first radio or network call.
UNCACHED_PATH = (
    "endorse_ble.central.__main__",
    "endorse_ble.central.credential_process_cmd",
    "endorse_ble.central.credentials_cmd",
    "endorse_ble.central.ble_reader",
    "endorse_ble.central.exchange_client",
)


def _wall(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def main() -> None:
    imports = "import " + ", ".join(UNCACHED_PATH)
    baseline: list[float] = []
    uncached: list[float] = []
    for _ in range(RUNS):
        baseline.append(_wall("pass"))
        uncached.append(_wall(imports))
    base, full = statistics.median(baseline), statistics.median(uncached)
    print(f"uncached laptop run, start + imports, median of {RUNS}")
    print(f"  python -c pass          {base:6.3f} s")
    print(f"  start + imports         {full:6.3f} s ({full / base:.1f}x python -c pass)")
    print(f"  imports alone           {full - base:6.3f} s")
    print(f"  target: start + imports <= {TARGET_SECONDS:g} s")
    sys.exit(verdict(full <= TARGET_SECONDS))


if __name__ == "__main__":
    main()
