"""The user's config.toml: errors name the file and key; flags win over profile over defaults."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from endorse_ble.central.errors import ConfigError, UsageError
from endorse_ble.central.gateway_options import add_gateway_options
from endorse_ble.central.settings import DEFAULT_EXCHANGE_TIMEOUT, add_config_options, resolve
from endorse_ble.central.user_config import (
    load_user_config,
    parse_user_config,
    validate_exchange_url,
)

FULL = """
[gateway]
name = "gw-default"
adapter = "hci0"
scan_timeout = 5

[exchange]
url = "https://exchange.example.com/"
timeout = 7

[profiles.work]
exchange_url = "https://work.example.com/"
[profiles.work.gateway]
name = "gw-work"
pair = true
"""


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("colour = 1", "colour"),
        ("[gateway]\nnmae = 'x'", "gateway.nmae"),
        ("[gateway]\nscan_timeout = 'ten'", "gateway.scan_timeout"),
        ("[gateway]\nscan_timeout = 0", "gateway.scan_timeout"),
        ("[gateway]\npair = 'yes'", "gateway.pair"),
        ("[gateway]\nname = ''", "gateway.name"),
        ("gateway = 3", "gateway"),
        ("[exchange]\nurl = 'http://exchange.example.com/'", "exchange.url"),
        ("[exchange]\nurl = 'ftp://x/'", "exchange.url"),
        ("[exchange]\ntimeout = true", "exchange.timeout"),
        ("[profiles.w]\nexchange_url = 'nope'", "profiles.w.exchange_url"),
        ("[profiles.w]\nregion = 'x'", "profiles.w.region"),
        ("[profiles.w.gateway]\nadapter = 1", "profiles.w.gateway.adapter"),
        ("[profiles.'../x']\nexchange_url = 'https://a/'", "profiles.../x"),
        ("profiles = 1", "profiles"),
        ("[gateway\nname = 'x'", "(syntax)"),
    ],
)
def test_errors_name_file_and_key(text: str, key: str) -> None:
    """Each invalid setting is reported with the file path and the dotted key."""
    with pytest.raises(ConfigError) as caught:
        parse_user_config(text, "/home/u/.config/endorse-ble/config.toml")
    assert caught.value.path == "/home/u/.config/endorse-ble/config.toml"
    assert caught.value.key == key
    assert str(caught.value).startswith(f"/home/u/.config/endorse-ble/config.toml: {key}: ")


def test_full_config_parses() -> None:
    """Defaults and a profile with a nested gateway table are read with their types."""
    config = parse_user_config(FULL, "c.toml")
    assert config.default.gateway.name == "gw-default"
    assert config.default.gateway.scan_timeout == 5.0
    assert config.default.exchange_timeout == 7.0
    assert config.profiles["work"].gateway.pair is True
    assert config.profiles["work"].exchange_url == "https://work.example.com/"


@pytest.mark.parametrize(
    "url",
    ["https://x.example/", "http://127.0.0.1:8080/", "http://[::1]:9/", "http://localhost/"],
)
def test_accepted_exchange_urls(url: str) -> None:
    """https anywhere, plain http only to loopback."""
    assert validate_exchange_url(url) == url


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/", "http://example.com/", "https://user:pw@x/", "file:///etc", "x"]
)
def test_refused_exchange_urls(url: str) -> None:
    """Plain http over a network, credentials in the URL and other schemes are refused."""
    with pytest.raises(ValueError):
        validate_exchange_url(url)


def _args(config: Path, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_gateway_options(parser, challenge=True)
    add_config_options(parser, exchange=True)
    return parser.parse_args(["--config", str(config), *argv])


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(FULL)
    return path


def test_profile_over_defaults(config_file: Path) -> None:
    """A profile's settings replace the defaults; what it leaves unset falls through."""
    settings = resolve(_args(config_file, "--profile", "work"))
    assert settings.gateway.name == "gw-work"
    assert settings.gateway.adapter == "hci0"
    assert settings.gateway.pair is True
    assert settings.exchange_url == "https://work.example.com/"
    assert settings.exchange_timeout == 7.0


def test_flags_win(config_file: Path) -> None:
    """Every flag beats the profile and the defaults."""
    settings = resolve(
        _args(
            config_file,
            "--profile=work",
            "--name=flag-gw",
            "--adapter=hci9",
            "--exchange-url=http://127.0.0.1:1/",
            "--exchange-timeout=2",
            "--scan-timeout=1",
        )
    )
    assert settings.gateway.name == "flag-gw"
    assert settings.gateway.adapter == "hci9"
    assert settings.gateway.scan_timeout == 1.0
    assert settings.exchange_url == "http://127.0.0.1:1/"
    assert settings.exchange_timeout == 2.0


def test_missing_default_file_is_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config file at the default place is fine; built-in defaults apply."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    config = load_user_config()
    assert config.path == str(tmp_path / "endorse-ble" / "config.toml")
    assert config.profiles == {}


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    """--config naming a missing file is a config error naming that file."""
    with pytest.raises(ConfigError, match="not found"):
        load_user_config(str(tmp_path / "nope.toml"))


def test_no_exchange_url_says_where_to_set_it(tmp_path: Path) -> None:
    """Without any exchange URL the error names the flag and the config key."""
    path = tmp_path / "c.toml"
    path.write_text("")
    settings = resolve(_args(path, "--profile", "gw"))
    assert settings.exchange_timeout == DEFAULT_EXCHANGE_TIMEOUT
    with pytest.raises(UsageError, match=r"--exchange-url.*\[profiles\.gw\] exchange_url"):
        settings.require_exchange_url()


@pytest.mark.parametrize(
    "argv",
    [["--exchange-url", "http://example.com/"], ["--profile", "../x"], ["--exchange-timeout", "0"]],
)
def test_bad_flags_are_usage_errors(config_file: Path, argv: list[str]) -> None:
    """Invalid flag values are usage errors, not crashes."""
    with pytest.raises(UsageError):
        resolve(_args(config_file, *argv))


def test_unknown_profile_lists_the_known_ones(config_file: Path) -> None:
    """A mistyped --profile is an error naming the known profiles, not the defaults."""
    with pytest.raises(UsageError) as caught:
        resolve(_args(config_file, "--profile", "wrok"))
    assert "unknown profile 'wrok'" in str(caught.value)
    assert "known: work" in str(caught.value)


def test_gateway_timeout_from_config_and_flag(tmp_path: Path) -> None:
    """The whole-session deadline is a [gateway] key too; the flag wins."""
    path = tmp_path / "config.toml"
    path.write_text("[gateway]\ngateway_timeout = 20\n")
    assert resolve(_args(path)).gateway.gateway_timeout == 20.0
    assert resolve(_args(path, "--gateway-timeout", "3")).gateway.gateway_timeout == 3.0
