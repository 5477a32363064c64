"""[modem] backend and modem_id in the gateway's configuration file."""

from __future__ import annotations

import pytest

from endorse_ble.peripheral.config import parse_config
from endorse_ble.peripheral.errors import ConfigError, ConfigReason


def test_modemmanager_backend_with_a_modem_id() -> None:
    config = parse_config('[modem]\nbackend = "modemmanager"\nmodem_id = "356938035643809"\n')
    assert (config.modem.backend, config.modem.modem_id) == ("modemmanager", "356938035643809")


def test_the_default_backend_is_at() -> None:
    assert parse_config("").modem.backend == "at"


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('[modem]\nbackend = "mm"\n', "modem.backend", ConfigReason.BAD_VALUE),
        ('[modem]\nbackend = "modemmanager"\nmodem_id = ""\n', "modem.modem_id", None),
        ('[modem]\nbackend = "modemmanager"\nmodem_id = "a\\nb"\n', "modem.modem_id", None),
        ('[modem]\nmodem_id = "356938035643809"\n', "modem.modem_id", ConfigReason.CONFLICT),
    ],
)
def test_refused(text: str, key: str, reason: ConfigReason | None) -> None:
    """A one-line error naming the key; modem_id only makes sense with ModemManager."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "gw.toml")
    assert caught.value.key == key
    assert caught.value.reason is (reason or ConfigReason.BAD_VALUE)
    assert "\n" not in str(caught.value)
