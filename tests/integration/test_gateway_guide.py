"""docs/gateway-install.md, run verbatim on this Debian 12 machine in a scratch root.

The guide marks its runnable blocks with ``<!-- guide-test: TAGS -->`` on the line before
the fence. For each way of installing (``package``, ``source``) the blocks tagged with it
run in order as one shell session, then those tagged ``<way>-upgrade`` and
``<way>-uninstall``; after each stage the test looks at what the root holds. Only
``systemctl`` is stood in for (no systemd runs in the scratch root): it records the call
and, like the real one, refuses to enable a unit whose file is missing.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from tests.integration.conftest import PACKAGE_TEST_TIMEOUT, repack_as_version
from tests.scratch_root import ScratchRoot

pytestmark = [pytest.mark.integration, PACKAGE_TEST_TIMEOUT]

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "gateway-install.md"
MARKER = re.compile(r"^<!-- guide-test: ([a-z -]+) -->\n```sh\n(.*?)^```$", re.M | re.S)

SYSTEMCTL = """#!/bin/sh
# systemctl's stand-in in the scratch root: records the call; enable needs the unit file.
echo "systemctl $*" >> "$(dirname "$0")/systemctl.log"
if [ "$1" = enable ]; then
    for arg in "$@"; do
        case "$arg" in enable|-*) ;; *)
            [ -f "/etc/systemd/system/$arg.service" ] ||
                [ -f "/lib/systemd/system/$arg.service" ] ||
                { echo "Unit file $arg.service does not exist." >&2; exit 1; }
        esac
    done
fi
"""

#: Everything an install of either kind may create, all gone after its uninstall.
OURS = [
    "/etc/endorse-ble",
    "/opt/endorse-ble",
    "/lib/systemd/system/endorse-peripheral.service",
    "/etc/systemd/system/endorse-peripheral.service",
    "/usr/share/dbus-1/system.d/endorse-ble-bluez.conf",
    "/etc/dbus-1/system.d/endorse-ble-bluez.conf",
    "/usr/lib/modules-load.d/endorse-ble.conf",
    "/etc/modules-load.d/endorse-ble.conf",
    "/usr/lib/sysusers.d/endorse-ble.conf",
    "/etc/sysusers.d/endorse-ble.conf",
    "/usr/lib/tmpfiles.d/endorse-ble.conf",
    "/etc/tmpfiles.d/endorse-ble.conf",
    "/etc/udev/rules.d/78-endorse-ble-mm.rules",
    "/usr/bin/endorse-peripheral",
    "/usr/local/bin/endorse-peripheral",
    "/usr/share/bash-completion/completions/endorse-peripheral",
    "/usr/local/share/bash-completion/completions/endorse-peripheral",
]


def guide_blocks(tag: str) -> list[str]:
    """The guide's blocks marked with ``tag``, in order."""
    return [body for tags, body in MARKER.findall(GUIDE.read_text()) if tag in tags.split()]


def test_the_guide_marks_blocks_for_every_stage() -> None:
    for way in ("package", "source"):
        for stage in ("", "-upgrade", "-uninstall"):
            assert guide_blocks(way + stage), f"no block tagged {way}{stage}"
    assert "systemctl enable --now endorse-peripheral" in "".join(guide_blocks("package"))


class GuideRun:
    """One way of installing, followed in one scratch root."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = ScratchRoot(tmp_path / "root")
        self.shim = tmp_path / "shim"
        self.shim.mkdir()
        (self.shim / "systemctl").write_text(SYSTEMCTL)
        (self.shim / "systemctl").chmod(0o755)

    def follow(self, tag: str, cwd: Path | None = None, before: str = "") -> str:
        script = before + "\n".join(guide_blocks(tag))
        done = self.root.run(
            script,
            cwd=cwd,
            env={"PATH": f"{self.shim}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"},
        )
        assert done.returncode == 0, f"[{tag}] {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    def check_installed(self) -> None:
        """The user, the configuration's owner and mode, a verified unit, a readable config."""
        root = self.root
        assert "endorse-ble:" in root.changed("/etc/passwd").read_text()
        gid = next(
            int(line.split(":")[2])
            for line in root.changed("/etc/group").read_text().splitlines()
            if line.startswith("endorse-ble:")
        )
        info = root.changed("/etc/endorse-ble/config.toml").stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, gid, 0o640)
        done = root.run(
            "for unit in /etc/systemd/system/endorse-peripheral.service "
            "/lib/systemd/system/endorse-peripheral.service; do\n"
            '  [ -f "$unit" ] && systemd-analyze verify --man=no "$unit"\n'
            "done; true\n"
            "runuser -u endorse-ble -- endorse-peripheral check-config --offline >/dev/null\n"
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stderr == ""
        assert "systemctl enable --now endorse-peripheral" in (
            (self.shim / "systemctl.log").read_text()
        )

    def edit_config(self) -> None:
        done = self.root.run(
            "sed -i 's|^port = .*|port = \"/dev/ttyACM0\"|' /etc/endorse-ble/config.toml"
        )
        assert done.returncode == 0, done.stderr

    def check_edit_kept(self) -> None:
        config = self.root.changed("/etc/endorse-ble/config.toml").read_text()
        assert 'port = "/dev/ttyACM0"' in config

    def check_nothing_left(self) -> None:
        left = [path for path in OURS if self.root.exists(path)]
        assert left == []


@pytest.fixture
def guide(tmp_path: Path) -> GuideRun:
    return GuideRun(tmp_path)


def test_the_package_way(guide: GuideRun, gateway_deb: Path, tmp_path: Path) -> None:
    first, newer = tmp_path / "v1", tmp_path / "v2"
    first.mkdir()
    newer.mkdir()
    (first / gateway_deb.name).symlink_to(gateway_deb)
    repack_as_version(gateway_deb, "0.1.0+guide1", newer)
    guide.follow("package", cwd=first)
    guide.check_installed()
    guide.edit_config()
    guide.follow("package-upgrade", cwd=newer)
    guide.check_edit_kept()
    guide.follow("package-uninstall")
    guide.check_nothing_left()


def test_the_source_way(guide: GuideRun) -> None:
    copy_source = (
        "install -d /opt/endorse-ble/src\n"
        f"git -C {REPO} ls-files -z --cached --others --exclude-standard |\n"
        f"  (cd {REPO} && xargs -0 cp -P --parents -t /opt/endorse-ble/src)\n"
    )
    guide.follow("source", before=copy_source)
    guide.check_installed()
    guide.edit_config()
    guide.follow("source-upgrade")
    guide.check_edit_kept()
    guide.follow("source-uninstall")
    guide.check_nothing_left()
