"""docs/exchange-api.md stays true: every error code with its status, a valid example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from endorse_ble.exchange.config import parse_config_toml
from endorse_ble.exchange.errors import HTTP_STATUS, ErrorCode

DOC = Path(__file__).resolve().parents[2] / "docs" / "exchange-api.md"


@pytest.fixture(scope="module")
def doc() -> str:
    """The API document's text."""
    return DOC.read_text(encoding="utf-8")


def test_every_error_code_is_documented_with_its_status(doc: str) -> None:
    """Each ErrorCode has a table row naming the status HTTP_STATUS gives it."""
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", doc, flags=re.MULTILINE))
    assert rows == {code.value: str(int(HTTP_STATUS[code])) for code in ErrorCode}


def test_every_code_has_a_status() -> None:
    """The status table covers the whole enum."""
    assert set(HTTP_STATUS) == set(ErrorCode)


def test_the_example_configuration_is_valid(doc: str) -> None:
    """The TOML example in the document parses and validates."""
    example = re.search(r"```toml\n(.*?)```", doc, flags=re.DOTALL)
    assert example is not None
    config = parse_config_toml(example.group(1))
    assert config.replay.backend == "dynamodb"
    assert len(config.allow) == 2
