"""The runtime wheel as a user gets it: one import package, no testbed, and commands that
name the missing extra in one line instead of a traceback.

The wheel is built from a copy of this checkout (setuptools writes build/ and egg-info
next to the sources) and unpacked into a fresh venv with no extras at all: the most
bare install there is, so each part's command must find its own libraries missing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", ".*_cache", ".hypothesis"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip wheel --no-deps`` of this checkout."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(ROOT, source, symlinks=True, ignore=_NOT_SOURCES)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work), str(source)],
        check=True,
        capture_output=True,
    )
    (built,) = work.glob("endorse_ble-*.whl")
    return built


@pytest.fixture(scope="module")
def bare_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv holding the wheel and nothing else (no extras, no pip)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(purelib)  # a pure-Python wheel: its files go to purelib as they are
    yield venv / "bin" / "python"


def test_the_wheel_holds_endorse_ble_only_and_no_testbed(wheel: Path) -> None:
    """One top-level import package, the four parts inside it, no testbed module."""
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    packages = {top for top in tops if not top.endswith((".dist-info", ".data"))}
    assert packages == {"endorse_ble"}
    for part in ("tokenlink", "peripheral", "central", "exchange"):
        assert f"endorse_ble/{part}/__init__.py" in names
    assert [name for name in names if "testbed" in name] == []
    top_level = next(name for name in names if name.endswith(".dist-info/top_level.txt"))
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["endorse_ble"]


def _run(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), *args], capture_output=True, text=True, timeout=60, check=False, cwd="/"
    )


@pytest.mark.parametrize(
    ("part", "argv", "extra"),
    [
        ("peripheral", ["run"], "peripheral"),
        ("peripheral", ["run", "--config", "/nonexistent/gateway.toml"], "peripheral"),
        ("exchange", ["serve"], "exchange"),
        ("exchange", ["serve", "--config", "/nonexistent/exchange.toml"], "exchange"),
        ("exchange", ["allow", "list"], "exchange"),
        ("central", ["scan"], "central"),
        ("central", ["credential-process"], "central"),
    ],
)
def test_a_command_without_its_extra_names_it_in_one_line(
    bare_python: Path, part: str, argv: list[str], extra: str
) -> None:
    """Refused before options or files are looked at: exit 2, one line naming the extra."""
    result = _run(bare_python, "-m", f"endorse_ble.{part}", *argv)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert f"needs the [{extra}] extra" in result.stderr
    assert f"pip install 'endorse-ble[{extra}]'" in result.stderr


@pytest.mark.parametrize("part", ["peripheral", "central", "exchange"])
def test_help_works_without_any_extra(bare_python: Path, part: str) -> None:
    """``--help`` lists the commands whatever is installed."""
    result = _run(bare_python, "-m", f"endorse_ble.{part}", "--help")
    assert result.returncode == 0, result.stderr
    assert "COMMAND" in result.stdout


@pytest.mark.parametrize("part", ["peripheral", "exchange"])
def test_check_config_needs_no_extra(bare_python: Path, part: str) -> None:
    """The config checks are pure: they run (and judge the file) on a bare install."""
    result = _run(
        bare_python, "-m", f"endorse_ble.{part}", "check-config", "--config", "/nonexistent"
    )
    assert "extra" not in result.stderr
    assert "Traceback" not in result.stderr
    assert result.returncode == 2, result.stderr
