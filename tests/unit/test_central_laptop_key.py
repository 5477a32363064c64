"""The laptop key: created once, kept in the keyring or a private file, never shown."""

from __future__ import annotations

import argparse
import logging
import os
import stat
import threading
from pathlib import Path

import keyring.errors
import pytest
from keyring.backends import chainer, fail, null

from endorse_ble.central import enroll_cmd
from endorse_ble.central.errors import KeyFailure, LaptopKeyError
from endorse_ble.central.keyring_vault import KeyringVault, _usable
from endorse_ble.central.laptop_key import (
    FileVault,
    KeyringFirstVault,
    LaptopKey,
    enroll,
    load_key,
)
from endorse_ble.tokenlink.key_binding import is_thumbprint


class MemoryKeyring:
    """Passwords in a dict, with the keyring backend's interface (a stand-in for the OS
    keyring). Not a KeyringBackend subclass: keyring registers every subclass as a backend
    for the whole process."""

    priority = 1

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.items[(service, username)]


@pytest.fixture
def vault(tmp_path: Path) -> FileVault:
    return FileVault(str(tmp_path / "keys"))


def test_enroll_creates_once_then_returns_the_same_key(vault: FileVault) -> None:
    """The first enroll creates a 0600 key file in a 0700 dir; the second returns that key."""
    key, created = enroll("gw", rotate=False, vault=vault)
    assert created and is_thumbprint(key.thumbprint)
    info = os.stat(vault.path("gw"))
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert stat.S_IMODE(os.stat(vault.directory).st_mode) == 0o700
    again, created_again = enroll("gw", rotate=False, vault=vault)
    assert not created_again and again.thumbprint == key.thumbprint
    assert load_key("gw", vault) is not None
    assert load_key("other", vault) is None


def test_rotate_replaces_the_key(vault: FileVault) -> None:
    """--rotate writes a new key; the old thumbprint is gone."""
    old, _ = enroll("gw", rotate=False, vault=vault)
    new, created = enroll("gw", rotate=True, vault=vault)
    assert created and new.thumbprint != old.thumbprint
    loaded = load_key("gw", vault)
    assert loaded is not None and loaded.thumbprint == new.thumbprint
    assert [p.name for p in Path(vault.directory).iterdir()] == ["gw.pem"]  # no temp files


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_key_file_others_can_read_is_refused_with_the_fix(vault: FileVault, mode: int) -> None:
    """Group or other bits: refused, and the message says the chmod that fixes it."""
    enroll("gw", rotate=False, vault=vault)
    os.chmod(vault.path("gw"), mode)
    with pytest.raises(LaptopKeyError) as info:
        load_key("gw", vault)
    assert info.value.reason is KeyFailure.EXPOSED
    assert f"chmod 600 {vault.path('gw')}" in str(info.value)


def test_a_symlinked_or_garbage_key_file_is_refused(vault: FileVault, tmp_path: Path) -> None:
    """A symlink is not followed; a file that is not a P-256 PEM is reported, not crashed on."""
    os.makedirs(vault.directory, mode=0o700)
    target = tmp_path / "elsewhere.pem"
    target.write_bytes(b"x")
    os.symlink(target, vault.path("link"))
    with pytest.raises(LaptopKeyError) as info:
        load_key("link", vault)
    assert info.value.reason is KeyFailure.EXPOSED
    Path(vault.path("junk")).write_bytes(b"-----BEGIN PRIVATE KEY-----\nnope\n")
    os.chmod(vault.path("junk"), 0o600)
    with pytest.raises(LaptopKeyError) as info:
        load_key("junk", vault)
    assert info.value.reason is KeyFailure.CORRUPT


def test_keyring_backends_that_cannot_store_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """fail, a chainer with nothing to chain and null mean "no keyring": the file is used."""
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
    for cannot_store in (fail.Keyring, chainer.ChainerBackend, null.Keyring):
        backend: object = cannot_store()
        assert not _usable(backend)
    assert _usable(MemoryKeyring())


def test_a_usable_keyring_holds_the_key() -> None:
    """With a keyring backend the key is stored there under endorse-ble, not in a file."""
    backend = MemoryKeyring()
    vault = KeyringVault(backend)
    key, _ = enroll("gw", rotate=False, vault=vault)
    assert list(backend.items) == [("endorse-ble", "laptop-key:gw")]
    loaded = load_key("gw", vault)
    assert loaded is not None and loaded.thumbprint == key.thumbprint


def test_the_private_key_is_never_shown(
    vault: FileVault, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """enroll prints jkt and the allowlist line; no output, log or repr holds the key."""
    caplog.set_level(logging.DEBUG)
    args = argparse.Namespace(profile="gw", show=False, rotate=False)
    assert enroll_cmd.execute(args, vault) == 0
    out, err = capsys.readouterr()
    key = load_key("gw", vault)
    assert key is not None
    assert out == f'jkt={key.thumbprint}\nlaptops = ["{key.thumbprint}"]\n'
    secret = key.to_pem().decode().splitlines()[1]
    private_value = str(key.private_key.private_numbers().private_value)
    for text in (out, err, caplog.text, repr(key)):
        assert secret not in text and private_value not in text and "PRIVATE" not in text


def test_show_without_a_key_says_how_to_enroll(
    vault: FileVault, capsys: pytest.CaptureFixture[str]
) -> None:
    """--show with no key: exit 1 and one line naming the enroll command."""
    args = argparse.Namespace(profile="gw", show=True, rotate=False)
    assert enroll_cmd.execute(args, vault) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "endorse-central enroll --profile gw" in err


def test_rotate_replaces_an_exposed_key(
    vault: FileVault, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key file others could read is exactly what --rotate is for: it is replaced."""
    old, _ = enroll("gw", rotate=False, vault=vault)
    os.chmod(vault.path("gw"), 0o644)
    args = argparse.Namespace(profile="gw", show=False, rotate=True)
    assert enroll_cmd.execute(args, vault) == 0
    assert old.thumbprint not in capsys.readouterr().out
    assert stat.S_IMODE(os.stat(vault.path("gw")).st_mode) == 0o600


def test_pem_round_trip_keeps_the_thumbprint() -> None:
    """A key read back from its PEM is the same key."""
    key = LaptopKey.generate()
    assert LaptopKey.from_pem(key.to_pem(), "test").thumbprint == key.thumbprint


class LockedKeyring(MemoryKeyring):
    """A keyring waiting for an unlock that never comes (until the test releases it)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.release.wait()
        return None


class BrokenKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("the collection is locked")


def test_a_keyring_that_does_not_answer_is_abandoned() -> None:
    """A keyring call past its deadline fails in one line instead of hanging the CLI."""
    backend = LockedKeyring()
    try:
        with pytest.raises(LaptopKeyError) as info:
            load_key("gw", KeyringVault(backend, timeout=0.05))
        assert info.value.reason is KeyFailure.STORAGE
        assert "did not answer within 0.05 s" in str(info.value)
    finally:
        backend.release.set()


def test_a_keyring_error_is_a_storage_failure() -> None:
    """keyring's own errors become a LaptopKeyError naming the keyring."""
    with pytest.raises(LaptopKeyError) as info:
        load_key("gw", KeyringVault(BrokenKeyring()))
    assert info.value.reason is KeyFailure.STORAGE and "locked" in str(info.value)


def test_a_key_enrolled_without_a_keyring_is_still_found(vault: FileVault) -> None:
    """A key put in the file (no keyring then) is found when a keyring appears; rotation
    moves it into the keyring."""
    old, _ = enroll("gw", rotate=False, vault=vault)
    both = KeyringFirstVault(KeyringVault(MemoryKeyring()), vault)
    found = load_key("gw", both)
    assert found is not None and found.thumbprint == old.thumbprint
    assert both.where == vault.where
    new, _ = enroll("gw", rotate=True, vault=both)
    loaded = load_key("gw", both)
    assert loaded is not None and loaded.thumbprint == new.thumbprint
    assert both.where.startswith("the OS keyring")
