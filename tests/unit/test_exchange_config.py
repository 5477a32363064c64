"""Exchange settings from TOML and from the environment, with every bad value refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from endorse_ble.exchange.config import (
    DEFAULT_KEYSTORE_URL,
    AllowEntry,
    load_config_file,
    parse_config_toml,
)
from endorse_ble.exchange.config_env import config_from_env
from endorse_ble.exchange.errors import ConfigError, ErrorCode

ROLE = "arn:aws:iam::123456789012:role/endorse"
FULL = f"""
max_body_bytes = 4096
[keystore]
url = "http://127.0.0.1:9000/keys/"
kid_pattern = "^k-[0-9]+$"
cache_ttl_seconds = 120
negative_cache_seconds = 5
fetches_per_minute = 30
[token]
leeway_seconds = 10
max_age_seconds = 900
require_nonce = true
[credentials]
default_role_arn = "{ROLE}"
duration_seconds = 1800
[replay]
backend = "dynamodb"
table = "replay"
[aws]
region = "ap-northeast-1"
endpoint_url = "http://127.0.0.1:5000"
[[allow]]
imsi = "440103123456789"
imei = "356938035643809"
role_arn = "arn:aws:iam::123456789012:role/other"
[[allow]]
imsi = "440103000000001"
"""


def test_reads_every_section_of_a_full_file(tmp_path: Path) -> None:
    """A full TOML file sets every documented key."""
    path = tmp_path / "exchange.toml"
    path.write_text(FULL)
    config = load_config_file(path)
    assert config.max_body_bytes == 4096
    assert config.keystore.url == "http://127.0.0.1:9000/keys/"
    assert config.keystore.kid_pattern == "^k-[0-9]+$"
    assert config.keystore.fetches_per_minute == 30.0
    assert config.token.leeway_seconds == 10.0 and config.token.require_nonce is True
    assert config.credentials.duration_seconds == 1800
    assert config.replay.backend == "dynamodb" and config.replay.table == "replay"
    assert config.aws.region == "ap-northeast-1"
    assert config.aws.endpoint_url == "http://127.0.0.1:5000"
    assert config.allow == (
        AllowEntry("440103123456789", "356938035643809", "arn:aws:iam::123456789012:role/other"),
        AllowEntry("440103000000001"),
    )


def test_defaults_are_endorse_and_safe() -> None:
    """An empty file means the public keystore, memory replay and nobody allowed."""
    config = parse_config_toml("")
    assert config.keystore.url == DEFAULT_KEYSTORE_URL
    assert config.token.issuer == "https://soracom.io"
    assert config.replay.backend == "memory"
    assert config.allow == ()


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[keystore]\nurl = "http://keys.example/"', "keystore.url"),
        ('[keystore]\nurl = "http://10.0.0.1/keys/"', "keystore.url"),
        ('[keystore]\nurl = "https://keys.example/k"', "keystore.url"),
        ('[keystore]\nurl = "ftp://keys.example/"', "keystore.url"),
        ('[keystore]\nkid_pattern = "("', "keystore.kid_pattern"),
        ("[keystore]\nmin_rsa_bits = 1024", "keystore.min_rsa_bits"),
        ("[keystore]\nfetches_per_minute = 0", "keystore.fetches_per_minute"),
        ("[keystore]\nsurprise = 1", "keystore.surprise"),
        ('[token]\nleeway_seconds = "soon"', "token.leeway_seconds"),
        ('[token]\nrequire_nonce = "maybe"', "token.require_nonce"),
        ("[credentials]\nduration_seconds = 899", "credentials.duration_seconds"),
        ("[credentials]\nduration_seconds = 43201", "credentials.duration_seconds"),
        ('[credentials]\ndefault_role_arn = "role"', "credentials.default_role_arn"),
        ('[replay]\nbackend = "redis"', "replay.backend"),
        ('[[allow]]\nimsi = "abc"', "allow[0].imsi"),
        (f'[[allow]]\nimsi = "44010"\nimei = "1"\nrole_arn = "{ROLE}"', "allow[0].imei"),
        ('[[allow]]\nimsi = "44010"', "allow[0].role_arn"),
        (f'[[allow]]\nimsi = "44010"\nrole_arn = "{ROLE}"\nextra = 1', "allow[0].extra"),
        (
            f'[credentials]\ndefault_role_arn = "{ROLE}"\n[[allow]]\nimsi = "44010"\n'
            '[[allow]]\nimsi = "44010"',
            "allow",
        ),
        ("surprise = 1", "surprise"),
        ("[keystore", "toml"),
    ],
)
def test_refuses_bad_settings(toml: str, key: str) -> None:
    """Each bad setting is refused naming its key."""
    with pytest.raises(ConfigError) as info:
        parse_config_toml(toml)
    assert info.value.key == key
    assert info.value.code is ErrorCode.MISCONFIGURED


def test_environment_overrides_a_file(tmp_path: Path) -> None:
    """EXCHANGE_* variables override the TOML named by EXCHANGE_CONFIG_FILE."""
    path = tmp_path / "exchange.toml"
    path.write_text(FULL)
    config = config_from_env(
        {
            "EXCHANGE_CONFIG_FILE": str(path),
            "EXCHANGE_TOKEN_LEEWAY_SECONDS": "5",
            "EXCHANGE_REPLAY_BACKEND": "memory",
            "EXCHANGE_ALLOW": '[{"imsi": "44010", "role_arn": "' + ROLE + '"}]',
            "AWS_REGION": "eu-west-1",
        }
    )
    assert config.token.leeway_seconds == 5.0
    assert config.token.require_nonce is True  # from the file
    assert config.replay.backend == "memory"
    assert config.allow == (AllowEntry("44010", None, ROLE),)
    assert config.aws.region == "ap-northeast-1"  # the file wins over Lambda's AWS_REGION


def test_environment_alone() -> None:
    """Without a file, EXCHANGE_* and AWS_REGION configure everything."""
    config = config_from_env(
        {
            "EXCHANGE_KEYSTORE_URL": "https://keys.example/",
            "EXCHANGE_CREDENTIALS_DEFAULT_ROLE_ARN": ROLE,
            "EXCHANGE_CREDENTIALS_DURATION_SECONDS": "900",
            "EXCHANGE_TOKEN_REQUIRE_NONCE": "true",
            "EXCHANGE_MAX_BODY_BYTES": "2048",
            "EXCHANGE_ALLOW": '[{"imsi": "440103123456789"}]',
            "AWS_REGION": "eu-west-1",
            "PATH": "/usr/bin",
        }
    )
    assert config.keystore.url == "https://keys.example/"
    assert config.credentials.duration_seconds == 900
    assert config.token.require_nonce is True
    assert config.max_body_bytes == 2048
    assert config.aws.region == "eu-west-1"
    assert config.allow[0].role_arn is None


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"EXCHANGE_NOPE": "1"}, "EXCHANGE_NOPE"),
        ({"EXCHANGE_ALLOW": "[{"}, "EXCHANGE_ALLOW"),
        ({"EXCHANGE_CONFIG_FILE": "/nonexistent/exchange.toml"}, "EXCHANGE_CONFIG_FILE"),
        ({"EXCHANGE_TOKEN_MAX_BYTES": "lots"}, "token.max_bytes"),
    ],
)
def test_refuses_bad_environment(env: dict[str, str], key: str) -> None:
    """Unknown variables, bad JSON, missing files and bad numbers are refused."""
    with pytest.raises(ConfigError) as info:
        config_from_env(env)
    assert info.value.key == key


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[keystore]\ntimeout_seconds = 0", "keystore.timeout_seconds"),
        ("[server]\nrequest_deadline_seconds = 86400", "server.request_deadline_seconds"),
        ("[aws]\nread_timeout_seconds = nan", "aws.read_timeout_seconds"),
        ("[keystore]\ncache_ttl_seconds = inf", "keystore.cache_ttl_seconds"),
        ("[allowlist]\ncache_seconds = 120", "allowlist.cache_seconds"),
        ('[allowlist]\nbackend = "file"', "allowlist.backend"),
        ("[server]\nmax_drain_bytes = 10", "server.max_drain_bytes"),
        ("[credentials]\nrole_chaining = true\nduration_seconds = 7200", "duration_seconds"),
        (
            '[allowlist]\nbackend = "dynamodb"\n[[allow]]\nimsi = "440103123456789"',
            "allow",
        ),
    ],
)
def test_refuses_waits_caches_and_backends_out_of_range(toml: str, key: str) -> None:
    """Waits follow the shared (0, 3600] rule, numbers are finite, revocation within a
    minute, role chaining at most an hour, one allowlist source."""
    with pytest.raises(ConfigError) as info:
        parse_config_toml(toml)
    assert key in str(info.value)
