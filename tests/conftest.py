"""Fixtures shared by the test tiers come from the testbed's pytest plugins.

Every ``testbed/<area>/pytest_fixtures.py`` is loaded, so a new stand-in's fixtures are
available to all tests without editing this file.
"""

from pathlib import Path

_TESTBED = Path(__file__).resolve().parent.parent / "testbed"

pytest_plugins: list[str] = sorted(
    f"endorse_ble.testbed.{path.parent.name}.pytest_fixtures"
    for path in _TESTBED.glob("*/pytest_fixtures.py")
)
