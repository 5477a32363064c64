"""Fixtures shared by the test tiers come from the testbed's pytest plugins.

Every ``testbed/<area>/pytest_fixtures.py`` is loaded, so a new stand-in's fixtures are
available to all tests without editing this file. The laptop keys of the key-binding tests
(the product's own key class, not a stand-in) are defined here, and no test reaches the
OS keyring of the machine it runs on: laptop keys go to files under the test's HOME.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from endorse_ble.central.laptop_key import LaptopKey

_TESTBED = Path(__file__).resolve().parent.parent / "testbed"

pytest_plugins: list[str] = sorted(
    f"endorse_ble.testbed.{path.parent.name}.pytest_fixtures"
    for path in _TESTBED.glob("*/pytest_fixtures.py")
)


@pytest.fixture(scope="module")
def key_a() -> LaptopKey:
    """A laptop's P-256 key ("laptop A")."""
    return LaptopKey.generate()


@pytest.fixture(scope="module")
def key_b() -> LaptopKey:
    """Another laptop's key ("laptop B")."""
    return LaptopKey.generate()


@pytest.fixture(autouse=True, scope="session")
def no_os_keyring() -> Iterator[None]:
    """keyring's ``fail`` backend for this process and every CLI it starts."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
        yield
