"""Private ``dbus-daemon`` buses: allow-everything policy, socket in a private temp dir.

No root and no system bus are needed. Each daemon runs in its own session and gets
SIGTERM when the process that started it dies (``PR_SET_PDEATHSIG``), so a test or tester
that is killed leaves no daemon behind; two runs never share a socket directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from endorse_ble.testbed.bluez.errors import FakeBluezError, FakeBluezReason

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>{name}</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""


def die_with_parent() -> None:
    """In a child before exec: ask the kernel for SIGTERM when the parent thread exits.

    The signal follows the *thread* that forked, so start daemons from a long-lived
    thread (the main thread), never from a worker thread that ends.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class PrivateBus:
    """One ``dbus-daemon`` on a unix socket inside its own temporary directory."""

    def __init__(self, name: str, start_timeout: float = 10.0) -> None:
        self.name = name
        self._start_timeout = start_timeout
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._address: str | None = None

    @property
    def address(self) -> str:
        """The D-Bus address clients use (``unix:path=...,guid=...``)."""
        if self._address is None:
            raise FakeBluezError(FakeBluezReason.NOT_STARTED, f"bus {self.name} not started")
        return self._address

    @property
    def pid(self) -> int | None:
        """The daemon's process id while it runs."""
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        """Write the config, start the daemon and read back its address."""
        daemon = shutil.which("dbus-daemon")
        if daemon is None:
            raise FakeBluezError(FakeBluezReason.DAEMON_MISSING, "dbus-daemon not on PATH")
        self._dir = Path(tempfile.mkdtemp(prefix=f"fakebluez-{self.name}-"))
        config = self._dir / "bus.conf"
        config.write_text(_CONFIG.format(name=self.name, socket=self._dir / "bus"))
        self._proc = subprocess.Popen(
            [daemon, f"--config-file={config}", "--nofork", "--print-address"],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,  # the point is the death signal
        )
        try:
            self._address = self._read_address()
        except BaseException:
            self.stop()
            raise
        logger.info("bus %s at %s (pid %s)", self.name, self._address, self._proc.pid)

    def _read_address(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + self._start_timeout
        fd = self._proc.stdout.fileno()
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(left, 0))
            if not ready:
                raise FakeBluezError(FakeBluezReason.TIMEOUT, f"bus {self.name} gave no address")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise FakeBluezError(
                    FakeBluezReason.DAEMON_FAILED,
                    f"dbus-daemon for {self.name} exited with {self._proc.wait()}",
                )
            line += chunk
        return line.decode().strip()

    def stop(self) -> None:
        """Terminate the daemon and remove its directory; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        self._address = None


class BusPair:
    """The buses of the testbed: ``peripheral`` (adapter hci0), ``central`` (hci1), and one
    more per extra laptop (hci2, ...): ``laptops[k]`` is hci(k+1)'s.

    Separate buses model separate hosts: on one bus bless's own InterfacesAdded signals
    would reach bleak, whose match rules do not filter on sender, and one laptop's
    bleak-retry-connector would see (and close, as "stale") another laptop's connection.
    """

    def __init__(self, laptops: int = 1) -> None:
        self.peripheral = PrivateBus("peripheral")
        self.laptops = [
            PrivateBus("central" if k == 0 else f"laptop{k + 1}") for k in range(laptops)
        ]
        self.central = self.laptops[0]

    def start(self) -> None:
        """Start the daemons (from the main thread: see :func:`die_with_parent`)."""
        try:
            self.peripheral.start()
            for bus in self.laptops:
                bus.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the daemons and remove their sockets."""
        with contextlib.ExitStack() as stack:
            stack.callback(self.peripheral.stop)
            for bus in self.laptops:
                stack.callback(bus.stop)
