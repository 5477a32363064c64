"""Per-profile credential cache: one small JSON file per profile, mode 0600.

Read on every ``credential-process`` run, so this module imports only ``os`` and ``time``
(see central.process_json for why not ``json``). A cache file is trusted only if it is a
regular file (not a symlink) owned by the current user, not readable or writable by group
or others, small, in our exact format, and its ``Expiration`` is more than ``skew``
seconds away. Anything else is ignored; the next fetch replaces it.
"""

from __future__ import annotations

import os
import time

from endorse_ble.central import paths
from endorse_ble.central.file_lock import FileLock
from endorse_ble.central.process_json import (
    format_utc,
    is_plain_string,
    parse_flat_object,
    parse_utc,
    render_flat_object,
)

# typing (and collections.abc) would cost the cached path more than everything else it
# does; mypy treats this name as true, the interpreter never runs the import.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

#: Refresh this long before the credentials expire (seconds).
DEFAULT_SKEW_SECONDS = 300
#: A cache file is a few hundred bytes plus the session token (a few KiB at most).
MAX_CACHE_BYTES = 16 * 1024
#: The credential_process fields, in the order AWS documents and we print them.
PROCESS_KEYS = ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")
_PROFILE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
MAX_PROFILE_LENGTH = 64
_SUFFIX = ".json"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_READ_FLAGS = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_BINARY", 0)


def is_valid_profile(name: str) -> bool:
    """Profile names double as file names: 1-64 of ``A-Z a-z 0-9 . _ -``, no leading dot."""
    return (
        0 < len(name) <= MAX_PROFILE_LENGTH
        and not name.startswith(".")
        and all(c in _PROFILE_CHARS for c in name)
    )


def render_process_json(fields: dict[str, str]) -> str:
    """The credential_process document (Version 1) for validated ``fields``."""
    return render_flat_object([("Version", 1), *((k, fields[k]) for k in PROCESS_KEYS)])


class CredentialCache:
    """The cache directory; ``clock`` returns Unix seconds (injectable for tests)."""

    def __init__(
        self, directory: str | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = directory or paths.credentials_cache_dir()
        self._clock = clock

    def path(self, profile: str) -> str:
        """The cache file of ``profile`` (ValueError for a name that is not a safe file name)."""
        if not is_valid_profile(profile):
            raise ValueError(f"invalid profile name {profile!r}")
        return os.path.join(self.directory, profile + _SUFFIX)

    def load(self, profile: str, skew: float = DEFAULT_SKEW_SECONDS) -> dict[str, str] | None:
        """The cached credential_process fields of ``profile`` if still good for ``skew`` s."""
        text = _read_trusted(self.path(profile))
        if text is None:
            return None
        entry = parse_flat_object(text)
        if entry is None or entry.get("Version") != 1 or entry.get("Profile") != profile:
            return None
        fields = {k: entry.get(k) for k in PROCESS_KEYS}
        if not all(isinstance(v, str) and v for v in fields.values()):
            return None
        expires = parse_utc(str(fields["Expiration"]))
        if expires is None or expires - skew <= self._clock():
            return None
        return {k: str(v) for k, v in fields.items()}

    def store(self, profile: str, fields: dict[str, str]) -> str:
        """Write ``fields`` (the credential_process values) for ``profile``; return the path."""
        from endorse_ble.central.atomic_file import atomic_write, make_private_dir

        path = self.path(profile)
        for key in PROCESS_KEYS:
            if not is_plain_string(fields[key]):
                raise ValueError(f"{key} cannot be cached: not printable ASCII")
        items: list[tuple[str, str | int]] = [("Version", 1), ("Profile", profile)]
        items += [(k, fields[k]) for k in PROCESS_KEYS]
        items.append(("CachedAt", format_utc(int(self._clock()))))
        make_private_dir(self.directory)
        atomic_write(path, (render_flat_object(items) + "\n").encode("ascii"))
        return path

    def lock(self, profile: str) -> FileLock:
        """An exclusive lock on ``profile``'s refresh, so that concurrent misses (parallel AWS
        CLI runs) read the gateway once: the others wait, then find the fresh entry."""
        return FileLock(self.path(profile)[: -len(_SUFFIX)] + ".lock", self.directory)

    def gateway_lock(self, key: str) -> FileLock:
        """The lock every run of this user takes around a session with gateway ``key``."""
        return FileLock(os.path.join(self.directory, f"gateway-{key}.lock"), self.directory)

    def clear(self, profile: str) -> bool:
        """Remove the cache file of ``profile``; True if there was one."""
        try:
            os.unlink(self.path(profile))
        except FileNotFoundError:
            return False
        return True

    def profiles(self) -> list[str]:
        """Profiles that have a cache file (valid or not)."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        found = (n[: -len(_SUFFIX)] for n in names if n.endswith(_SUFFIX))
        return sorted(p for p in found if is_valid_profile(p))


def _read_trusted(path: str) -> str | None:
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError:
        return None  # absent, a symlink (ELOOP), unreadable: not a cache hit
    try:
        info = os.fstat(fd)
        if not _trusted(info):
            return None
        data = os.read(fd, MAX_CACHE_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > MAX_CACHE_BYTES:
        return None
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        return None


def _trusted(info: os.stat_result) -> bool:
    # S_ISREG without importing stat: 0o170000 is S_IFMT, 0o100000 S_IFREG (POSIX).
    if info.st_mode & 0o170000 != 0o100000 or info.st_size > MAX_CACHE_BYTES:
        return False
    getuid = getattr(os, "getuid", None)
    if getuid is None:
        return True  # Windows: no POSIX owner or mode bits; the profile dir's ACL protects it
    return info.st_uid == getuid() and info.st_mode & 0o077 == 0
