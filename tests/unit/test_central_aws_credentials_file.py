"""Writing a profile into ~/.aws/credentials keeps everything else, atomically, mode 0600."""

from __future__ import annotations

import configparser
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.central import atomic_file
from endorse_ble.central.aws_credentials_file import (
    credentials_file_path,
    upsert_profile,
    write_profile,
)
from endorse_ble.central.credentials import AwsCredentials
from endorse_ble.central.errors import CredentialsFileError

CREDS = AwsCredentials("ASIANEWNEWNEWNEW0001", "newsecret/+", "newtoken==", "2027-01-01T00:00:00Z")
VALUES = [("aws_access_key_id", "K"), ("aws_secret_access_key", "S"), ("aws_session_token", "T")]

EXISTING = """\
# my credentials, hand-written
[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = defaultsecret

; the gateway profile
[gw]
region = eu-west-1
aws_access_key_id = OLDKEY
aws_session_token = old
  continued-old-token
# keep this comment
aws_secret_access_key: oldsecret

[other]
aws_access_key_id = AKIAOTHER
"""


def read_ini(text: str) -> configparser.RawConfigParser:
    # botocore reads the file with RawConfigParser (botocore.configloader).
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    return parser


def test_replaces_only_our_keys_in_our_section() -> None:
    """Other sections, comments and unrelated keys stay; old values and continuations go."""
    result = upsert_profile(EXISTING, "gw", VALUES)
    assert (
        result
        == """\
# my credentials, hand-written
[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = defaultsecret

; the gateway profile
[gw]
aws_access_key_id = K
aws_secret_access_key = S
aws_session_token = T
region = eu-west-1
# keep this comment

[other]
aws_access_key_id = AKIAOTHER
"""
    )
    ini = read_ini(result)
    assert dict(ini["gw"]) == {
        "aws_access_key_id": "K",
        "aws_secret_access_key": "S",
        "aws_session_token": "T",
        "region": "eu-west-1",
    }
    assert ini["default"]["aws_access_key_id"] == "AKIADEFAULT"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", "[gw]\naws_access_key_id = K\naws_secret_access_key = S\naws_session_token = T\n"),
        (
            "[a]\nx = 1",
            "[a]\nx = 1\n\n[gw]\naws_access_key_id = K\naws_secret_access_key = S\n"
            "aws_session_token = T\n",
        ),
        (
            "[a]\r\nx = 1\r\n",
            "[a]\r\nx = 1\r\n\r\n[gw]\r\naws_access_key_id = K\r\naws_secret_access_key = S\r\n"
            "aws_session_token = T\r\n",
        ),
        (
            "[gw]",
            "[gw]\naws_access_key_id = K\naws_secret_access_key = S\naws_session_token = T\n",
        ),
    ],
)
def test_new_or_empty_section(before: str, after: str) -> None:
    """A missing section is appended after a blank line, keeping the file's line endings."""
    assert upsert_profile(before, "gw", VALUES) == after


section_names = st.text(alphabet="abcdefghij-_", min_size=1, max_size=8).filter(lambda s: s != "gw")
keys = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)
plain_values = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/+=", max_size=12)


@given(st.dictionaries(section_names, st.dictionaries(keys, plain_values, max_size=3), max_size=4))
def test_other_sections_survive(others: dict[str, dict[str, str]]) -> None:
    """Whatever other profiles hold, they read back identical after our write."""
    text = "".join(
        f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in items.items())
        for name, items in others.items()
    )
    result = upsert_profile(text, "gw", VALUES)
    assert result.startswith(text)
    ini = read_ini(result)
    for name, items in others.items():
        assert dict(ini[name]) == {k: v.strip() for k, v in items.items()}
    assert ini["gw"]["aws_session_token"] == "T"


def test_write_profile_file_is_0600_and_readable_by_configparser(tmp_path: Path) -> None:
    """The written file is private and the AWS INI reader sees the new credentials."""
    path = tmp_path / "aws" / "credentials"
    write_profile("gw", CREDS, str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_ini(path.read_text())["gw"]["aws_secret_access_key"] == "newsecret/+"


def test_existing_permissive_file_becomes_0600(tmp_path: Path) -> None:
    """A world-readable credentials file is tightened when we rewrite it."""
    path = tmp_path / "credentials"
    path.write_text(EXISTING)
    path.chmod(0o644)
    write_profile("gw", CREDS, str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "AKIAOTHER" in path.read_text()


def test_failed_replace_leaves_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between writing the temp file and renaming it leaves the old file untouched."""
    path = tmp_path / "credentials"
    path.write_text(EXISTING)

    def crash(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_file.os, "replace", crash)
    with pytest.raises(CredentialsFileError, match="No space left"):
        write_profile("gw", CREDS, str(path))
    assert path.read_text() == EXISTING
    assert os.listdir(tmp_path) == ["credentials"]  # no temp file left behind


def test_symlinked_file_is_updated_where_it_points(tmp_path: Path) -> None:
    """A credentials file that is a symlink (dotfile managers) stays a symlink."""
    real = tmp_path / "dotfiles" / "credentials"
    real.parent.mkdir()
    real.write_text(EXISTING)
    link = tmp_path / "credentials"
    link.symlink_to(real)
    write_profile("gw", CREDS, str(link))
    assert link.is_symlink()
    assert "newtoken==" in real.read_text()


def test_env_var_names_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """$AWS_SHARED_CREDENTIALS_FILE wins over ~/.aws/credentials, as in the AWS CLI."""
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "c"))
    assert credentials_file_path() == str(tmp_path / "c")
    monkeypatch.delenv("AWS_SHARED_CREDENTIALS_FILE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert credentials_file_path() == str(tmp_path / ".aws" / "credentials")


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"\xff\xfe[gw]", "not UTF-8"), (b"#" * (1024 * 1024 + 1), "larger than")],
)
def test_unreadable_files_are_not_rewritten(tmp_path: Path, content: bytes, problem: str) -> None:
    """A file we cannot safely understand is left alone with a clear error."""
    path = tmp_path / "credentials"
    path.write_bytes(content)
    with pytest.raises(CredentialsFileError, match=problem):
        write_profile("gw", CREDS, str(path))
    assert path.read_bytes() == content


def test_bad_profile_name(tmp_path: Path) -> None:
    """A profile name that could inject INI syntax is refused."""
    with pytest.raises(CredentialsFileError, match="invalid profile"):
        write_profile("gw]\n[evil", CREDS, str(tmp_path / "credentials"))
