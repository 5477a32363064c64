"""The per-gateway lock: exclusive across processes, never waited on past a deadline."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from endorse_ble.central.file_lock import FileLock, LockTimeout, gateway_key

HOLD = """
import sys, time
from endorse_ble.central.file_lock import FileLock
lock = FileLock(sys.argv[1], sys.argv[2]).acquire()
print("held", flush=True)
sys.stdin.readline()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_waiter_gives_up_at_its_deadline_then_gets_the_lock(tmp_path: Path) -> None:
    path = str(tmp_path / "gateway-any.lock")
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, path, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        started = time.monotonic()
        with pytest.raises(LockTimeout):
            FileLock(path, str(tmp_path)).acquire(time.monotonic() + 0.2)
        assert time.monotonic() - started < 5
        assert holder.stdin is not None
        holder.stdin.close()  # the holder exits, and its lock with it
        holder.wait(10)
    lock = FileLock(path, str(tmp_path)).acquire(time.monotonic() + 5)
    lock.release()


def test_gateway_keys_are_file_name_safe() -> None:
    assert gateway_key(None, None) == "any"
    assert gateway_key("endorse-gw", None) == "endorse-gw"
    assert gateway_key("x", "C0:FF:EE:00:00:01") == "c0_ff_ee_00_00_01"
    assert "/" not in gateway_key("../../etc", None)
