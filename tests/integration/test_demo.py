"""The one-command demo: the whole chain, credentials printed, nothing left running."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PR_SET_CHILD_SUBREAPER = 36


@pytest.fixture
def adopt_orphans() -> Iterator[None]:
    """Make this process the subreaper: anything the demo leaves behind becomes our child."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        pytest.skip("prctl(PR_SET_CHILD_SUBREAPER) is not available")
    yield
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def children() -> list[str]:
    """Command lines of this process's live children."""
    found = []
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            found.append(cmdline)
    return found


def start_demo(*args: str, ignore_sigint: bool = False) -> subprocess.Popen[str]:
    """Start the demo; ``ignore_sigint`` starts it with SIGINT ignored (SIG_IGN survives exec).

    A background job of a non-interactive shell starts that way, and Python then leaves
    SIGINT ignored (no KeyboardInterrupt): Ctrl-C works only through the demo's own handler.
    """
    command = [sys.executable, "-m", "endorse_ble.testbed", "demo", *args]
    if ignore_sigint:
        command = ["sh", "-c", "trap '' INT; exec \"$@\"", "sh", *command]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.usefixtures("adopt_orphans")
@pytest.mark.parametrize("backend", ["at", "modemmanager"])
def test_demo_prints_credentials_and_cleans_up(backend: str) -> None:
    """The demo exits 0 with the IMSI, masked secrets and timings, leaving no process,
    with the modem read over AT or through ModemManager."""
    demo = start_demo("--mtu", "23", "--modem-backend", backend)
    out, err = demo.communicate(timeout=120)
    assert demo.returncode == 0, err
    assert "SIM (IMSI):        440103123456789" in out
    assert "AccessKeyId:       ASIA" in out
    assert "SecretAccessKey:   " in out and "(40 chars)" in out
    assert "laptop timings:    check" in out and "scan" in out and "exchange" in out
    assert "[7/7] everything stopped ... ok" in err
    assert "modem home" in out
    assert children() == []


def interrupt_half_way(signum: signal.Signals) -> None:
    """Send ``signum`` at step 5; the demo must say so, exit 128 + signum, leave nothing.

    Started with SIGINT ignored, so only the demo's own handlers can make it stop.
    """
    demo = start_demo(ignore_sigint=True)
    assert demo.stderr is not None
    seen = ""
    while "[5/7]" not in seen:
        chunk = demo.stderr.read(1)
        assert chunk, f"the demo ended early: {seen}"
        seen += chunk
    demo.send_signal(signum)
    _, err = demo.communicate(timeout=60)
    assert demo.returncode == 128 + signum, seen + err
    assert "interrupted: every process was stopped" in err
    assert children() == []


@pytest.mark.usefixtures("adopt_orphans")
def test_ctrl_c_stops_everything() -> None:
    """Ctrl-C half-way: exit 130, nothing left running, even with SIGINT ignored at start."""
    interrupt_half_way(signal.SIGINT)


@pytest.mark.usefixtures("adopt_orphans")
def test_sigterm_stops_everything() -> None:
    """SIGTERM (a service manager, `kill`) cleans up the same way: exit 143."""
    interrupt_half_way(signal.SIGTERM)
