"""Replace a file atomically: temp file in the same directory, fsync, os.replace.

A crash (or a failure) at any point leaves either the old file or the new one, never a
mix: the data reaches the disk before the rename (fsync), and rename within one directory
is atomic on POSIX (rename(2)) and on Windows (MoveFileEx, which os.replace uses).
"""

from __future__ import annotations

import contextlib
import os
import sys

# Refuse to follow a symlink planted where the temp file goes.
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_OPEN_FLAGS |= getattr(os, "O_BINARY", 0)


def make_private_dir(path: str) -> None:
    """Create ``path`` (and parents) readable by the user only, if missing."""
    os.makedirs(path, mode=0o700, exist_ok=True)


def atomic_write(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically with permissions ``mode`` (0600 by default).

    Raises OSError; on failure the temp file is removed and ``path`` is untouched.
    """
    directory = os.path.dirname(path) or "."
    temp = os.path.join(directory, f".{os.path.basename(path)}.{os.urandom(6).hex()}.tmp")
    fd = os.open(temp, _OPEN_FLAGS, mode)
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)  # the umask may not loosen it, but be exact
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    # The rename itself is durable only once the directory entry is flushed (POSIX);
    # Windows cannot open a directory this way and needs no such step.
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
