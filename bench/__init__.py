"""Benchmarks: plain scripts run as ``python -m bench.<name>``, printing ratios to a baseline.

``python -m bench --quick`` (or ``BENCH_QUICK=1`` for one script) runs each benchmark end
to end with few iterations: what CI runs, so a benchmark that breaks fails CI. Its figures
are noisy and its targets are printed but not gated; ``make bench`` (full runs) gates them.
"""

from __future__ import annotations

import os

#: Set by ``python -m bench --quick`` for every benchmark it starts.
QUICK_ENV = "BENCH_QUICK"
QUICK = os.environ.get(QUICK_ENV) == "1"


def iterations(full: int, quick: int) -> int:
    """``full`` in a real run, ``quick`` in a quick one."""
    return quick if QUICK else full


def verdict(met: bool) -> int:
    """The exit status for a target: gated in a full run, reported only in a quick one."""
    if QUICK:
        print(f"quick mode: target {'met' if met else 'missed'} (not gated; run make bench)")
        return 0
    return 0 if met else 1
