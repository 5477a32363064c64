"""The gateway's Debian package: lintian, then install, upgrade and purge with dpkg in a
scratch root (this Debian 12 machine under copy-on-write overlays, tests/scratch_root.py).
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import PACKAGE_TEST_TIMEOUT, repack_as_version
from tests.scratch_root import ScratchRoot

pytestmark = [pytest.mark.integration, PACKAGE_TEST_TIMEOUT]

REPO = Path(__file__).resolve().parents[2]
CONFIG = "/etc/endorse-ble/config.toml"
VENV = "/opt/endorse-ble/venv"

#: Everything the package puts outside its venv: path -> (owner, group, mode).
PLACED = {
    "/lib/systemd/system/endorse-peripheral.service": ("root", "root", 0o644),
    "/usr/lib/sysusers.d/endorse-ble.conf": ("root", "root", 0o644),
    "/usr/lib/tmpfiles.d/endorse-ble.conf": ("root", "root", 0o644),
    "/usr/lib/modules-load.d/endorse-ble.conf": ("root", "root", 0o644),
    "/usr/share/dbus-1/system.d/endorse-ble-bluez.conf": ("root", "root", 0o644),
    "/etc/udev/rules.d/78-endorse-ble-mm.rules": ("root", "root", 0o644),
    "/etc/endorse-ble": ("root", "endorse-ble", 0o750),
    CONFIG: ("root", "endorse-ble", 0o640),
    "/usr/share/bash-completion/completions/endorse-peripheral": ("root", "root", 0o644),
    "/usr/share/zsh/vendor-completions/_endorse-peripheral": ("root", "root", 0o644),
    "/usr/share/fish/vendor_completions.d/endorse-peripheral.fish": ("root", "root", 0o644),
    "/usr/share/doc/endorse-ble/copyright": ("root", "root", 0o644),
    "/usr/share/doc/endorse-ble/changelog.gz": ("root", "root", 0o644),
    "/usr/share/lintian/overrides/endorse-ble": ("root", "root", 0o644),
    f"{VENV}/bin/endorse-peripheral": ("root", "root", 0o755),
}
#: The same files as in the source tree (the guide's from-source install copies these).
SAME_AS_SOURCE = {
    "/lib/systemd/system/endorse-peripheral.service": "systemd/endorse-peripheral.service",
    "/usr/lib/sysusers.d/endorse-ble.conf": "systemd/sysusers.d/endorse-ble.conf",
    "/usr/lib/tmpfiles.d/endorse-ble.conf": "systemd/tmpfiles.d/endorse-ble.conf",
    "/usr/lib/modules-load.d/endorse-ble.conf": "systemd/modules-load.d/endorse-ble.conf",
    "/usr/share/dbus-1/system.d/endorse-ble-bluez.conf": "systemd/dbus-1/endorse-ble-bluez.conf",
    "/etc/udev/rules.d/78-endorse-ble-mm.rules": "systemd/udev/78-endorse-ble-mm.rules",
    CONFIG: "config.example.toml",
}


def _names(root: ScratchRoot, db: str) -> dict[int, str]:
    path = root.changed(f"/etc/{db}")
    lines = (path if path.exists() else Path(f"/etc/{db}")).read_text().splitlines()
    return {int(line.split(":")[2]): line.split(":")[0] for line in lines}


def _install(root: ScratchRoot, deb: Path) -> None:
    # --force-depends: bluez need not be installed on the test machine (the guide's
    # apt-get install ./... brings it; test_gateway_guide runs that).
    done = root.run(f"dpkg --force-depends -i {deb}")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def installed(gateway_deb: Path, tmp_path: Path) -> ScratchRoot:
    root = ScratchRoot(tmp_path / "root")
    _install(root, gateway_deb)
    return root


def test_lintian_is_clean(gateway_deb: Path) -> None:
    """No error or warning; the few overrides are justified in debian/*.lintian-overrides."""
    done = subprocess.run(
        ["lintian", "--fail-on", "error,warning", str(gateway_deb)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    tags = [line for line in done.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert (done.returncode, tags) == (0, []), done.stdout + done.stderr


def test_install_creates_the_user_and_places_every_file(installed: ScratchRoot) -> None:
    users, groups = _names(installed, "passwd"), _names(installed, "group")
    entry = next(
        line.split(":")
        for line in installed.changed("/etc/passwd").read_text().splitlines()
        if line.startswith("endorse-ble:")
    )
    assert entry[5:] == ["/nonexistent", "/usr/sbin/nologin"]
    assert int(entry[2]) < 1000
    dialout = next(
        line
        for line in installed.changed("/etc/group").read_text().splitlines()
        if line.startswith("dialout:")
    )
    assert "endorse-ble" in dialout.split(":")[3].split(",")
    for path, (owner, group, mode) in PLACED.items():
        info = installed.changed(path).lstat()
        placed = (users.get(info.st_uid), groups.get(info.st_gid), stat.S_IMODE(info.st_mode))
        assert placed == (owner, group, mode), path
    for path, source in SAME_AS_SOURCE.items():
        assert installed.changed(path).read_bytes() == (REPO / source).read_bytes(), path
    link = installed.changed("/usr/bin/endorse-peripheral")
    assert str(link.readlink()) == f"{VENV}/bin/endorse-peripheral"


def test_no_file_is_writable_by_others_or_setuid(installed: ScratchRoot) -> None:
    listed = installed.run("dpkg -L endorse-ble").stdout.splitlines()
    assert f"{VENV}/bin/endorse-peripheral" in listed
    for path in listed:
        if path.count("/") < 2:
            continue  # "/." and the top-level directories
        assert installed.exists(path), path
        upper = installed.changed(path)
        # a directory the host already had and dpkg left alone stays in the lower layer
        info = upper.lstat() if upper.exists() or upper.is_symlink() else Path(path).lstat()
        if stat.S_ISLNK(info.st_mode):
            continue
        assert info.st_uid == 0, path
        assert not info.st_mode & (stat.S_IWOTH | stat.S_ISUID | stat.S_ISGID), path


def test_conffiles_are_the_configuration_and_the_udev_rule(installed: ScratchRoot) -> None:
    conffiles = installed.changed("/var/lib/dpkg/info/endorse-ble.conffiles").read_text()
    assert conffiles.split() == [CONFIG, "/etc/udev/rules.d/78-endorse-ble-mm.rules"]


def test_installed_unit_verifies_and_the_program_runs(installed: ScratchRoot) -> None:
    """systemd-analyze verify on the installed unit (its ExecStart exists there); the
    service user can read the installed configuration, which is valid."""
    done = installed.run(
        "systemd-analyze verify --man=no /lib/systemd/system/endorse-peripheral.service\n"
        "echo verified\n"
        "endorse-peripheral --version\n"
        "runuser -u endorse-ble -- endorse-peripheral check-config --offline > /dev/null\n"
        "echo config-ok\n"
        "bash -n /usr/share/bash-completion/completions/endorse-peripheral\n"
        "fish -n /usr/share/fish/vendor_completions.d/endorse-peripheral.fish\n"
        "zsh -n /usr/share/zsh/vendor-completions/_endorse-peripheral\n"
        "echo completions-ok\n"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "verified"
    assert lines[1].startswith("endorse-peripheral (endorse-ble) ")
    assert lines[2:] == ["config-ok", "completions-ok"]
    assert done.stderr == ""


def test_upgrade_keeps_the_edited_configuration(
    installed: ScratchRoot, gateway_deb: Path, tmp_path: Path
) -> None:
    newer = repack_as_version(gateway_deb, "0.1.0+upgrade1", tmp_path)
    edited = installed.run(f"sed -i 's|^port = .*|port = \"/dev/ttyACM0\"|' {CONFIG}")
    assert edited.returncode == 0, edited.stderr
    _install(installed, newer)
    config = installed.changed(CONFIG)
    assert 'port = "/dev/ttyACM0"' in config.read_text()
    assert not list(config.parent.glob("*.dpkg-*"))
    info = config.stat()
    assert (_names(installed, "group")[info.st_gid], stat.S_IMODE(info.st_mode)) == (
        "endorse-ble",
        0o640,
    )
    version = installed.run("dpkg-query -W -f '${Version}' endorse-ble").stdout
    assert version == "0.1.0+upgrade1"


def test_purge_removes_configuration_and_state_but_keeps_the_user(
    installed: ScratchRoot,
) -> None:
    done = installed.run(
        f"echo '# an edit' >> {CONFIG}\n"
        f"python3 -m compileall -q {VENV}/lib  # bytecode the package did not ship\n"
        "dpkg --purge endorse-ble\n"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for gone in (
        "/etc/endorse-ble",
        "/opt/endorse-ble",
        "/lib/systemd/system/endorse-peripheral.service",
        "/usr/share/dbus-1/system.d/endorse-ble-bluez.conf",
        "/etc/udev/rules.d/78-endorse-ble-mm.rules",
        "/var/lib/systemd/deb-systemd-helper-enabled/endorse-peripheral.service.dsh-also",
        "/var/lib/dpkg/info/endorse-ble.list",
    ):
        assert not installed.exists(gone), gone
    assert "endorse-ble:" in installed.changed("/etc/passwd").read_text()


def test_the_host_is_left_as_it_was(gateway_deb: Path, tmp_path: Path) -> None:
    """Installing into the scratch root writes nothing outside it."""
    watched = [Path("/etc/passwd"), Path("/etc/group"), Path("/var/lib/dpkg/status")]
    before = [(p.read_bytes(), p.stat().st_mtime_ns) for p in watched]
    _install(ScratchRoot(tmp_path / "root"), gateway_deb)
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in watched] == before
