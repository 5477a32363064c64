"""``make stress`` names each failed test by the node id pytest would take, read from a
real JUnit XML report written by pytest for a sample of passing, failing and erroring tests."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]

SAMPLE = """
import pytest

@pytest.mark.parametrize("x", [1, 2])
def test_param(x):
    assert x == 1

class TestGroup:
    def test_fails(self):
        raise RuntimeError("boom")

    def test_passes(self):
        pass

@pytest.fixture
def broken():
    raise OSError("setup failed")

def test_setup_error(broken):
    pass
"""


def _stress() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stress", ROOT / "scripts" / "stress.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_failed_tests_are_named_by_node_id(tmp_path: Path) -> None:
    """Failures and setup errors are listed, passes are not, as ``path::[Class::]name``."""
    package = tmp_path / "tests" / "integration"
    package.mkdir(parents=True)
    (package / "test_sample.py").write_text(SAMPLE)
    report = tmp_path / "report.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-c",
            "/dev/null",
            f"--junitxml={report}",
            "tests/integration/test_sample.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    assert sorted(_stress().failed_tests(report)) == [
        "tests/integration/test_sample.py::TestGroup::test_fails",
        "tests/integration/test_sample.py::test_param[2]",
        "tests/integration/test_sample.py::test_setup_error",
    ]
