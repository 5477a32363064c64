"""This machine's own Debian root under copy-on-write overlays, for installing into.

Each :meth:`ScratchRoot.run` starts a private mount namespace (``unshare --mount``) in which
/etc, /usr, /opt and /var are overlays of the host's directories: commands run there
verbatim (``apt-get install``, ``systemd-sysusers``, ``install -m 0640 ... /etc/...``)
and every change lands in the overlays' upper directories under ``base``, which persist
from one run to the next and are where a test looks at what changed. The host is never
written. /run/systemd and /run/dbus are hidden behind empty tmpfs mounts, so maintainer
scripts behave as in a chroot (no systemd or D-Bus to talk to) instead of reloading the
host's daemons. Needs root (mounts) and overlayfs.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from pathlib import Path

LAYERS = ("etc", "usr", "opt", "var")
#: On Debian 12 /bin, /sbin, /lib and /lib64 are links into /usr (merged /usr).
HIDDEN_RUN = ("/run/systemd", "/run/dbus")


def can_run() -> str | None:
    """None when scratch roots work here, else why not (for a skip)."""
    if os.geteuid() != 0:
        return "installing into a scratch root needs root (mount namespaces, chown)"
    return None


class ScratchRoot:
    """The host root with copy-on-write overlays; changes collect under ``base``."""

    def __init__(self, base: Path) -> None:
        self.base = base
        for layer in LAYERS:
            (base / layer / "upper").mkdir(parents=True, exist_ok=True)
            (base / layer / "work").mkdir(parents=True, exist_ok=True)

    def _mounts(self) -> str:
        lines = []
        for layer in LAYERS:
            upper, work = self.base / layer / "upper", self.base / layer / "work"
            lines.append(
                f"mount -t overlay overlay -o lowerdir=/{layer},upperdir={upper},"
                f"workdir={work} /{layer}"
            )
        lines.extend(f"if [ -d {d} ]; then mount -t tmpfs tmpfs {d}; fi" for d in HIDDEN_RUN)
        return "\n".join(lines)

    def run(
        self,
        script: str,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 900,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``script`` with bash (-e -u -o pipefail) inside the scratch root."""
        inner = f"set -eu\n{self._mounts()}\ncd {shlex.quote(str(cwd or self.base))}\n"
        inner += f"exec bash -euo pipefail -c {shlex.quote(script)}\n"
        return subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive", **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def changed(self, path: str) -> Path:
        """Where ``path`` (absolute, e.g. /etc/passwd) shows up if the root changed it."""
        layer, _, rest = path.lstrip("/").partition("/")
        if layer in ("lib", "bin", "sbin"):
            layer, rest = "usr", f"{layer}/{rest}"
        assert layer in LAYERS, f"{path} is not under an overlaid directory"
        return self.base / layer / "upper" / rest

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists in the scratch root (host files count, whiteouts not)."""
        upper = self.changed(path)
        try:
            info = upper.lstat()
        except FileNotFoundError:
            return Path(path).exists() and not self._whited_out_above(path)
        # overlayfs marks a deleted lower file with a 0:0 character device
        return not (stat.S_ISCHR(info.st_mode) and info.st_rdev == 0)

    def _whited_out_above(self, path: str) -> bool:
        parts = Path(path).parts
        for i in range(2, len(parts)):
            upper = self.changed(str(Path(*parts[:i])))
            if upper.is_char_device() and upper.lstat().st_rdev == 0:
                return True
        return False
