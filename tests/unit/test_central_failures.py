"""One table maps every laptop error to a one-line message and an exit code."""

from __future__ import annotations

import pytest

from endorse_ble.central.errors import (
    BleReadError,
    ConfigError,
    CredentialsFileError,
    ExchangeClientError,
    ExchangeFailure,
    InputFailure,
    ReadFailure,
    TokenInputError,
    UsageError,
)
from endorse_ble.central.failures import EXIT_CODES, explain
from endorse_ble.tokenlink.errors import TokenFormatError, TokenFormatReason

ERRORS: list[BaseException] = [
    *(BleReadError(r, "detail") for r in ReadFailure),
    *(ExchangeClientError(r, "detail", status=500, code="x") for r in ExchangeFailure),
    *(ExchangeClientError(r, "detail") for r in ExchangeFailure),
    *(TokenInputError(r, "detail") for r in InputFailure),
    ConfigError("/c.toml", "gateway.name", "must be a string"),
    UsageError("--profile NAME is required"),
    CredentialsFileError("/x/credentials", "Permission denied"),
    TokenFormatError(TokenFormatReason.EMPTY, "token", "empty"),
    KeyboardInterrupt(),
]


@pytest.mark.parametrize(
    "error", ERRORS, ids=lambda e: f"{type(e).__name__}-{getattr(e, 'reason', '')}"
)
def test_every_error_has_one_line_and_a_documented_code(error: BaseException) -> None:
    """Every reason of every error type has a message on one line and a documented exit code."""
    failure = explain(error)
    assert failure.message and "\n" not in failure.message
    assert failure.exit_code in {code for code, _ in EXIT_CODES}


def test_config_errors_are_usage_errors_naming_file_and_key() -> None:
    """A config error exits 2 and names the file and the key."""
    failure = explain(ConfigError("/c.toml", "profiles.gw.exchange_url", "use https"))
    assert failure.exit_code == 2
    assert failure.message == "config /c.toml: profiles.gw.exchange_url: use https"


def test_unknown_errors_are_not_silently_worded() -> None:
    """An unexpected exception type is a programming error, not a user message."""
    with pytest.raises(TypeError):
        explain(RuntimeError("boom"))
