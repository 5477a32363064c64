"""The gateway's TOML config loads into the typed settings and names every mistake."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.peripheral.check_config import effective_settings, is_secret_key, render_toml
from endorse_ble.peripheral.config import config_keys, load_config, parse_config
from endorse_ble.peripheral.errors import ConfigError, ConfigReason
from endorse_ble.peripheral.settings import (
    CellularSettings,
    EndorseSettings,
    GatewayConfig,
    RefreshSettings,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.toml"


def test_example_file_loads_to_exactly_the_defaults() -> None:
    """config.example.toml, as shipped, is the default configuration."""
    assert load_config(EXAMPLE) == GatewayConfig()


def test_example_file_documents_every_settings_field() -> None:
    """Each settings key appears (set or commented out) under its section in the example."""
    text = EXAMPLE.read_text()
    sections = dict(re.findall(r"^\[(\w+)\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S))
    missing = [
        f"{section}.{key}"
        for section, key in config_keys()
        if not re.search(rf"^(# )?{key} = ", sections.get(section, ""), re.M)
    ]
    assert missing == []
    # config_keys() itself must cover every settings field, or the check above is hollow.
    defaults = GatewayConfig()
    fields: set[str] = set()
    for field in dataclasses.fields(GatewayConfig):
        value = getattr(defaults, field.name)
        if dataclasses.is_dataclass(value):
            fields |= {f"{field.name}.{f.name}" for f in dataclasses.fields(value)}
        else:
            fields.add(field.name.replace("_", ".", 1))  # log_level is [log] level
    assert fields == {f"{s}.{k}" for s, k in config_keys()}


def test_values_given_override_defaults_and_ints_become_floats() -> None:
    """Keys given replace defaults, the rest keep them, and an integer fills a float field."""
    config = parse_config(
        '[endorse]\nurl = "http://127.0.0.1:8080/"\nread_timeout_seconds = 3\n'
        '[refresh]\nmode = "on-demand"\n[log]\nlevel = "debug"\n'
    )
    assert config.endorse == EndorseSettings(url="http://127.0.0.1:8080/", read_timeout_seconds=3.0)
    assert isinstance(config.endorse.read_timeout_seconds, float)
    assert config.refresh == RefreshSettings(mode="on-demand")
    assert config.log_level == "DEBUG"
    assert config.modem == GatewayConfig().modem


def test_source_address_alone_replaces_the_default_interface() -> None:
    """Giving only source_address binds by address instead of the default ppp0."""
    config = parse_config('[cellular]\nsource_address = "10.128.0.1"\n')
    assert config.cellular == CellularSettings(interface=None, source_address="10.128.0.1")


@pytest.mark.parametrize(
    ("toml", "reason", "key", "expected"),
    [
        ("colour = 1", ConfigReason.UNKNOWN_KEY, "colour", "sections"),
        ("[endorse]\nurll = 'x'", ConfigReason.UNKNOWN_KEY, "endorse.urll", "url"),
        ("[ble.extra]\nx = 1", ConfigReason.UNKNOWN_KEY, "ble.extra", "adapter"),
        ("endorse = 3", ConfigReason.WRONG_TYPE, "endorse", "a table"),
        ("[endorse]\nurl = 3", ConfigReason.WRONG_TYPE, "endorse.url", "a string"),
        ("[modem]\nbaudrate = 9600.0", ConfigReason.WRONG_TYPE, "modem.baudrate", "integer"),
        ("[modem]\nbaudrate = true", ConfigReason.WRONG_TYPE, "modem.baudrate", "integer"),
        ("[ble]\nrequire_encryption = 1", ConfigReason.WRONG_TYPE, "ble.require_encryption",
         "true or false"),
        ("[endorse]\nread_timeout_seconds = '5'", ConfigReason.WRONG_TYPE,
         "endorse.read_timeout_seconds", "number"),
        ("[refresh]\nmin_margin_seconds = inf", ConfigReason.WRONG_TYPE,
         "refresh.min_margin_seconds", "finite"),
        ("[endorse]\nconnect_timeout_seconds = -1", ConfigReason.BAD_VALUE,
         "endorse.connect_timeout_seconds", "more than 0"),
        ("[endorse]\nread_timeout_seconds = 0", ConfigReason.BAD_VALUE,
         "endorse.read_timeout_seconds", "more than 0"),
        ("[endorse]\nmax_body_bytes = 100", ConfigReason.BAD_VALUE, "endorse.max_body_bytes",
         "at least 1024"),
        ("[endorse]\nurl = 'http://endorse.soracom.io'", ConfigReason.BAD_VALUE, "endorse.url",
         "https"),
        ("[endorse]\nurl = 'ftp://127.0.0.1/'", ConfigReason.BAD_VALUE, "endorse.url", "https"),
        ("[endorse]\nurl = 'https://u:p@endorse.soracom.io'", ConfigReason.BAD_VALUE,
         "endorse.url", "no user info"),
        ("[endorse]\nurl = 'https://'", ConfigReason.BAD_VALUE, "endorse.url", "host"),
        ("[endorse]\nurl = 'https://h:99999/'", ConfigReason.BAD_VALUE, "endorse.url", "https"),
        ("[refresh]\nrenew_at_fraction = 1.0", ConfigReason.BAD_VALUE,
         "refresh.renew_at_fraction", "strictly between 0 and 1"),
        ("[refresh]\nrenew_at_fraction = 0", ConfigReason.BAD_VALUE,
         "refresh.renew_at_fraction", "strictly between 0 and 1"),
        ("[refresh]\nmode = 'lazy'", ConfigReason.BAD_VALUE, "refresh.mode", "'on-demand'"),
        ("[refresh]\nbackoff_initial_seconds = 10\nbackoff_max_seconds = 5",
         ConfigReason.CONFLICT, "refresh.backoff_max_seconds", "backoff_initial_seconds"),
        ("[refresh]\nmin_margin_seconds = 5", ConfigReason.CONFLICT,
         "refresh.min_margin_seconds", "expiry_leeway_seconds"),
        ("[cellular]\ninterface = 'ppp0'\nsource_address = '10.0.0.1'", ConfigReason.CONFLICT,
         "cellular", "not both"),
        ("[cellular]\ninterface = 'a/b'", ConfigReason.BAD_VALUE, "cellular.interface",
         "interface name"),
        ("[cellular]\ninterface = 'sixteen-chars-xx'", ConfigReason.BAD_VALUE,
         "cellular.interface", "1-15"),
        ("[cellular]\ninterface = '..'", ConfigReason.BAD_VALUE, "cellular.interface", "name"),
        ("[cellular]\nsource_address = 'ppp0'", ConfigReason.BAD_VALUE,
         "cellular.source_address", "address"),
        ("[cellular]\nsource_address = '0.0.0.0'", ConfigReason.BAD_VALUE,
         "cellular.source_address", "unicast"),
        ("[modem]\nport = ''", ConfigReason.BAD_VALUE, "modem.port", "serial device"),
        ("[modem]\nbaudrate = 0", ConfigReason.BAD_VALUE, "modem.baudrate", "at least 300"),
        ("[modem]\npoll_interval_seconds = 0.5", ConfigReason.BAD_VALUE,
         "modem.poll_interval_seconds", "at least 1"),
        ("[ble]\nadapter = 'bt0'", ConfigReason.BAD_VALUE, "ble.adapter", "hci0"),
        ("[ble]\npairing_passkey = 1000000", ConfigReason.BAD_VALUE, "ble.pairing_passkey", "six"),
        ("[ble]\npairing_passkey = '1234'", ConfigReason.WRONG_TYPE, "ble.pairing_passkey", "int"),
        ("[ble]\nname = '" + "x" * 30 + "'", ConfigReason.BAD_VALUE, "ble.name", "1-29"),
        ('[ble]\nname = "a\\tb"', ConfigReason.BAD_VALUE, "ble.name", "printable"),
        ("[log]\nlevel = 'LOUD'", ConfigReason.BAD_VALUE, "log.level", "WARNING"),
    ],
)  # fmt: skip
def test_refuses_with_a_one_line_message_naming_file_and_key(
    tmp_path: Path, toml: str, reason: ConfigReason, key: str, expected: str
) -> None:
    """Each mistake is a ConfigError of the right reason: 'file: key: expected ...'."""
    path = tmp_path / "gateway.toml"
    path.write_text(toml + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    assert (error.reason, error.key, error.source) == (reason, key, str(path))
    message = str(error)
    assert message.startswith(f"{path}: {key}: ")
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("content", "reason", "expected"),
    [
        (None, ConfigReason.MISSING_FILE, "file not found"),
        (b"[endorse\n", ConfigReason.BAD_SYNTAX, "invalid TOML"),
        (b"[endorse]\nurl = \n", ConfigReason.BAD_SYNTAX, "line 2"),
        (b"[endorse]\nurl = '\xff'\n", ConfigReason.BAD_SYNTAX, "not UTF-8"),
        (b"#" * (1024 * 1024 + 1), ConfigReason.UNREADABLE, "larger than"),
    ],
)
def test_refuses_unusable_files_naming_the_file(
    tmp_path: Path, content: bytes | None, reason: ConfigReason, expected: str
) -> None:
    """A missing, non-TOML, non-UTF-8 or absurdly large file is refused, naming the file."""
    path = tmp_path / "gateway.toml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.reason is reason
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_directory_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    """Pointing --config at a directory is a clear ConfigError."""
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.reason is ConfigReason.UNREADABLE


names = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7F), min_size=1, max_size=29)


@given(
    name=names.filter(str.isprintable),
    read_timeout=st.floats(min_value=0.001, max_value=300),
    fraction=st.floats(min_value=0.01, max_value=0.99),
    baud=st.integers(min_value=300, max_value=4_000_000),
    by_address=st.booleans(),
)
def test_rendered_config_loads_back_to_the_same_settings(
    name: str, read_timeout: float, fraction: float, baud: int, by_address: bool
) -> None:
    """check-config's TOML output is itself a config file for the same settings."""
    defaults = GatewayConfig()
    config = dataclasses.replace(
        defaults,
        endorse=dataclasses.replace(defaults.endorse, read_timeout_seconds=read_timeout),
        refresh=dataclasses.replace(defaults.refresh, renew_at_fraction=fraction),
        modem=dataclasses.replace(defaults.modem, baudrate=baud),
        ble=dataclasses.replace(defaults.ble, name=name),
        cellular=CellularSettings(interface=None, source_address="10.0.0.1")
        if by_address
        else defaults.cellular,
    )
    assert parse_config(render_toml(config)) == config


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("api_token", True),
        ("Password", True),
        ("client_secret", True),
        ("pairing_passkey", True),
        ("url", False),
    ],
)
def test_secret_looking_keys_are_masked(key: str, secret: bool) -> None:
    """Keys naming a secret, password or token are recognised for masking."""
    assert is_secret_key(key) is secret


def test_effective_settings_omit_unset_optionals() -> None:
    """An unset optional key (TOML has no null) is left out of the printed settings."""
    assert "source_address" not in effective_settings(GatewayConfig())["cellular"]


def run_check_config(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "endorse_ble.peripheral", "check-config", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_prints_the_effective_config_and_exits_0(tmp_path: Path) -> None:
    """A valid file prints its effective settings (TOML) on stdout and exits 0."""
    path = tmp_path / "gateway.toml"
    path.write_text('[refresh]\nmode = "on-demand"\n')
    result = run_check_config("--offline", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert parse_config(result.stdout) == GatewayConfig(refresh=RefreshSettings(mode="on-demand"))


@pytest.mark.parametrize(
    ("content", "key"),
    [(None, None), ("[modem]\nbaudrate = 'fast'\n", "modem.baudrate"), ("[x\n", None)],
)
def test_check_config_reports_one_line_on_stderr_and_exits_2(
    tmp_path: Path, content: str | None, key: str | None
) -> None:
    """A missing or invalid file gives one stderr line naming file (and key), exit 2."""
    path = tmp_path / "gateway.toml"
    if content is not None:
        path.write_text(content)
    result = run_check_config("--offline", "--config", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert str(path) in lines[0]
    if key:
        assert f": {key}: " in lines[0]


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """Windows editors write UTF-8 with a BOM, which TOML forbids: the loader drops it."""
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b'[refresh]\nmode = "on-demand"\n')
    assert load_config(path).refresh.mode == "on-demand"


def test_check_config_defaults_to_the_path_run_uses() -> None:
    """check-config without --config reads the file run reads (and the unit names)."""
    import argparse

    from endorse_ble.peripheral import check_config, run_cmd

    defaults = []
    for module in (check_config, run_cmd):
        parser = argparse.ArgumentParser()
        module.configure(parser)
        defaults.append(parser.parse_args([]).config)
    unit = (REPO / "systemd" / "endorse-peripheral.service").read_text(encoding="utf-8")
    assert defaults == ["/etc/endorse-ble/config.toml"] * 2
    assert f"--config {defaults[0]}" in unit
