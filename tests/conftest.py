"""Fixtures shared by the test tiers come from the testbed's pytest plugins."""

pytest_plugins: list[str] = ["testbed.bluez.pytest_fixtures"]
