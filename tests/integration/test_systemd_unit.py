"""The systemd unit and its sysusers/tmpfiles snippets, checked with systemd's own tools."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "endorse-peripheral.service"
SYSUSERS = ROOT / "systemd" / "sysusers.d" / "endorse-ble.conf"
TMPFILES = ROOT / "systemd" / "tmpfiles.d" / "endorse-ble.conf"
EXEC = "/opt/endorse-ble/venv/bin/endorse-peripheral"

# `systemd-analyze security` exposure, 0.0 (best) to 10.0; the unit scores 1.5 on 252.
MAX_EXPOSURE = 2.0

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def _parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> every value assigned (systemd allows repeated keys)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"assignment outside a section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"not an assignment: {line}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


SERVICE = _parse_unit(UNIT.read_text(encoding="utf-8"))["Service"]

EXPECTED_SERVICE = {
    "Type": ["notify"],
    "NotifyAccess": ["main"],
    "ExecStart": [f"{EXEC} run --config /etc/endorse-ble/config.toml"],
    "ExecReload": ["/bin/kill -HUP $MAINPID"],
    "WatchdogSec": ["30"],
    "Restart": ["on-failure"],
    "RestartPreventExitStatus": ["2"],
    "TimeoutStopSec": ["10"],
    "User": ["endorse-ble"],
    "Group": ["endorse-ble"],
    "SupplementaryGroups": ["dialout"],
    "UMask": ["0077"],
    # The control socket of `endorse-peripheral pair`, nothing else.
    "RuntimeDirectory": ["endorse-ble"],
    "RuntimeDirectoryMode": ["0750"],
    "CapabilityBoundingSet": [""],
    "AmbientCapabilities": [""],
    "NoNewPrivileges": ["yes"],
    "ProtectSystem": ["strict"],
    "ProtectHome": ["yes"],
    "PrivateTmp": ["yes"],
    "PrivateDevices": ["no"],
    "DevicePolicy": ["closed"],
    "DeviceAllow": ["char-ttyUSB rw", "char-ttyACM rw"],
    "ProtectKernelTunables": ["yes"],
    "ProtectKernelModules": ["yes"],
    "ProtectKernelLogs": ["yes"],
    "ProtectControlGroups": ["yes"],
    "ProtectClock": ["yes"],
    "ProtectHostname": ["yes"],
    "RestrictNamespaces": ["yes"],
    "LockPersonality": ["yes"],
    "MemoryDenyWriteExecute": ["yes"],
    "RestrictRealtime": ["yes"],
    "RestrictSUIDSGID": ["yes"],
    "SystemCallArchitectures": ["native"],
    "SystemCallFilter": ["@system-service", "~@privileged @resources"],
    "RestrictAddressFamilies": ["AF_UNIX AF_INET AF_INET6 AF_NETLINK"],
}


@pytest.mark.parametrize("key", sorted(EXPECTED_SERVICE))
def test_service_setting(key: str) -> None:
    """Each start-up and hardening setting is present with its intended value."""
    assert SERVICE.get(key) == EXPECTED_SERVICE[key]


def test_no_writable_paths_or_capabilities_sneak_in() -> None:
    """The daemon writes nothing but its control socket (RuntimeDirectory) and holds no
    capability, so nothing re-opens either."""
    for key in ("ReadWritePaths", "StateDirectory", "Capabilities"):
        assert key not in SERVICE
    assert "AF_BLUETOOTH" not in " ".join(SERVICE["RestrictAddressFamilies"])


def _stub_unit(tmp_path: Path, text: str) -> Path:
    """A copy of the unit whose ExecStart names an executable stub (verify needs one)."""
    stub = tmp_path / "endorse-peripheral"
    stub.write_text("#!/bin/sh\nexit 0\n", encoding="ascii")
    stub.chmod(0o755)
    assert text.count(EXEC) == 1
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace(EXEC, str(stub)), encoding="utf-8")
    return unit


def _verify(unit: Path) -> str:
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return f"rc={result.returncode}\n{result.stdout}{result.stderr}"


@needs_analyze
def test_unit_verifies(tmp_path: Path) -> None:
    """systemd-analyze verify accepts the unit without a single warning about it."""
    output = _verify(_stub_unit(tmp_path, UNIT.read_text(encoding="utf-8")))
    assert output == "rc=0\n"


@needs_analyze
@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (("ProtectHome=yes", "ProtectHomes=yes"), "Unknown key"),
        (("Restart=on-failure", "Restart=sometimes"), "Failed to parse"),
        (("WatchdogSec=30", "WatchdogSec=thirty"), "Failed to parse"),
    ],
)
def test_verify_catches_mistakes(tmp_path: Path, change: tuple[str, str], complaint: str) -> None:
    """The verify check can fail: a misspelt key or an invalid value is reported."""
    text = UNIT.read_text(encoding="utf-8")
    assert text.count(change[0] + "\n") == 1
    output = _verify(_stub_unit(tmp_path, text.replace(change[0] + "\n", change[1] + "\n")))
    assert complaint in output


@needs_analyze
def test_security_exposure(tmp_path: Path) -> None:
    """systemd-analyze security rates the unit's exposure at or below MAX_EXPOSURE."""
    unit = _stub_unit(tmp_path, UNIT.read_text(encoding="utf-8"))
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "--offline" in result.stderr and "unrecognized" in result.stderr:
        pytest.skip("this systemd-analyze has no --offline (needs systemd 250+)")
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert match, result.stdout + result.stderr
    exposure = float(match.group(1))
    print(f"systemd-analyze security exposure: {exposure}")
    assert exposure <= MAX_EXPOSURE


def _root_with_snippets(tmp_path: Path) -> Path:
    """A filesystem root holding this host's user database and our two snippets."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group"):
        shutil.copy(Path("/etc") / name, root / "etc" / name)
    for snippet, kind in ((SYSUSERS, "sysusers.d"), (TMPFILES, "tmpfiles.d")):
        target = root / "usr" / "lib" / kind
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(snippet, target / snippet.name)
    return root


def _db(path: Path) -> dict[str, list[str]]:
    return {line.split(":")[0]: line.split(":") for line in path.read_text().splitlines()}


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="no systemd-sysusers")
def test_sysusers_creates_the_system_user(tmp_path: Path) -> None:
    """systemd-sysusers makes endorse-ble a nologin system user in its own group and dialout."""
    root = _root_with_snippets(tmp_path)
    subprocess.run(["systemd-sysusers", f"--root={root}"], check=True, capture_output=True)
    passwd, group = _db(root / "etc" / "passwd"), _db(root / "etc" / "group")
    _, _, uid, gid, _, home, shell = passwd["endorse-ble"]
    assert int(uid) < 1000  # a system user (SYS_UID_MAX on Debian is 999)
    assert group["endorse-ble"][2] == gid
    assert shell == "/usr/sbin/nologin"
    assert home == "/nonexistent"
    assert "endorse-ble" in group["dialout"][3].split(",")


@pytest.mark.skipif(
    shutil.which("systemd-sysusers") is None or shutil.which("systemd-tmpfiles") is None,
    reason="no systemd-sysusers/systemd-tmpfiles",
)
def test_tmpfiles_sets_config_permissions(tmp_path: Path) -> None:
    """systemd-tmpfiles makes /etc/endorse-ble root:endorse-ble 0750 and the config 0640."""
    if os.geteuid() != 0:
        pytest.skip("needs root to chown inside the scratch root")
    root = _root_with_snippets(tmp_path)
    subprocess.run(["systemd-sysusers", f"--root={root}"], check=True, capture_output=True)
    config = root / "etc" / "endorse-ble" / "config.toml"
    config.parent.mkdir()
    config.write_text("", encoding="utf-8")
    config.chmod(0o666)
    subprocess.run(
        ["systemd-tmpfiles", f"--root={root}", "--create"], check=True, capture_output=True
    )
    gid = int(_db(root / "etc" / "group")["endorse-ble"][2])
    for path, mode in ((config.parent, 0o750), (config, 0o640)):
        info = path.stat()
        assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (0, gid, mode)


@pytest.mark.skipif(sys.platform != "linux", reason="Linux only")
def test_gateway_imports_run_without_writable_executable_memory() -> None:
    """Under PR_SET_MDWE (the kernel's MemoryDenyWriteExecute) the gateway's stack still loads."""
    script = """
import ctypes, mmap, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN (Linux 6.3+)
    sys.exit(77)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit(78)  # the restriction did not take effect
except OSError:
    pass
import ssl, json, asyncio, serial, requests, dbus_next, bless
import endorse_ble.peripheral.gatt_server
import endorse_ble.peripheral.at_modem
import endorse_ble.peripheral.sd_notify
ssl.create_default_context()
asyncio.run(asyncio.sleep(0))
print("loaded")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    if result.returncode == 77:
        pytest.skip("the kernel has no PR_SET_MDWE (needs Linux 6.3+)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded"


def test_binding_to_an_interface_needs_no_capability() -> None:
    """An unprivileged process may SO_BINDTODEVICE a fresh socket, but not rebind it."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to an unprivileged user")
    if tuple(int(p) for p in re.findall(r"\d+", os.uname().release)[:2]) < (5, 7):
        pytest.skip("kernels before 5.7 require CAP_NET_RAW for any SO_BINDTODEVICE")
    script = """
import os, socket
os.setgroups([]); os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"lo")
try:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"")
except PermissionError:
    print("bound; rebinding refused")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "bound; rebinding refused"
