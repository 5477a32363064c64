"""Fixtures shared by the test tiers come from the testbed's pytest plugins."""

pytest_plugins: list[str] = [
    "testbed.endorse.pytest_fixtures",
    "testbed.exchange.pytest_fixtures",
    "testbed.modem.pytest_fixtures",
]
