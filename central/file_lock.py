"""Inter-process locks with a deadline: one per gateway, one per cached profile.

A user's processes (parallel AWS CLI commands running credential_process, a shell running
``credentials``, a ``token --challenge``) share one radio and one gateway: they take turns
through a lock file per gateway, so one process's disconnect never tears down a link
another is reading over, and the gateway sees one challenge from this laptop at a time.

flock(2) has no timeout, so a waiter tries without blocking and looks again shortly after,
until its deadline: a waiter is never held beyond its own total deadline, whatever the
holder does (and a holder's lock dies with its process). Imports only ``os`` and ``time``
(the credential_process start-up is measured); without flock (Windows) the lock is a no-op.
"""

from __future__ import annotations

import os
import time

#: How often a waiter looks again. The holder's run takes seconds (a BLE session, an HTTP
#: exchange), so this costs nothing noticeable and no waiter outlives its deadline by more.
RETRY_SECONDS = 0.05
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class LockTimeout(Exception):
    """The lock was still held by another process at the deadline."""


class FileLock:
    """An exclusive lock on ``path`` (in ``directory``, created 0700 if missing)."""

    def __init__(self, path: str, directory: str) -> None:
        self.path = path
        self._directory = directory
        self._fd: int | None = None
        #: Whether acquiring had to wait for another holder (it may have left a result).
        self.waited = False

    def acquire(self, deadline: float | None = None) -> FileLock:
        """Take the lock, waiting until monotonic ``deadline`` at most (None: forever)."""
        try:
            import fcntl
        except ImportError:  # Windows: concurrent runs just both go ahead
            return self
        from endorse_ble.central.atomic_file import make_private_dir

        try:
            make_private_dir(self._directory)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o600)
        except OSError:
            # The lock only orders this user's runs; an unusable cache dir is reported
            # where it matters (when an entry is stored).
            return self
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.waited = True
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockTimeout(self.path) from None
                time.sleep(RETRY_SECONDS)
                continue
            except OSError:
                os.close(fd)  # a file system without flock: go ahead unordered
                return self
            self._fd = fd
            return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def gateway_key(name: str | None, address: str | None) -> str:
    """A file-name-safe key for the gateway a command talks to ("any" if unnamed)."""
    raw = address or name or "any"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in raw.lower())
    return safe[:64] or "any"
