"""The gateway's Debian package, built once per test session (it takes about a minute)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.scratch_root import can_run

REPO = Path(__file__).resolve().parents[2]
#: BUILD_SECONDS bounds the package build (about a minute on an idle machine, several on a
#: busy one); with the tests' own bounded steps it is far beyond pytest-timeout's default
#: 120 s, which would kill the build halfway through the first test that needs it.
BUILD_SECONDS = 1200
PACKAGE_TEST_TIMEOUT = pytest.mark.timeout(BUILD_SECONDS + 600)


@pytest.fixture(scope="session")
def gateway_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .deb that ``make deb`` builds, from this checkout (scripts/build-deb)."""
    reason = can_run()
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("deb")
    done = subprocess.run(
        [str(REPO / "scripts" / "build-deb"), str(out)],
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (deb,) = out.glob("endorse-ble_*.deb")
    return deb


def repack_as_version(deb: Path, version: str, out: Path) -> Path:
    """``deb`` with another version number: an upgrade without a second build."""
    tree = out / "tree"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True, timeout=300)
    control = tree / "DEBIAN" / "control"
    lines = control.read_text(encoding="utf-8").splitlines()
    control.write_text(
        "\n".join(f"Version: {version}" if ln.startswith("Version:") else ln for ln in lines)
        + "\n",
        encoding="utf-8",
    )
    target = out / f"endorse-ble_{version}_{deb.name.rsplit('_', 1)[1]}"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "-b", str(tree), str(target)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    shutil.rmtree(tree)
    return target
