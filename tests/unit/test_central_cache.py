"""The per-profile credential cache: expiry maths, file trust checks, atomic 0600 writes."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from endorse_ble.central.credential_cache import (
    CredentialCache,
    is_valid_profile,
    render_process_json,
)
from endorse_ble.central.process_json import format_utc

EXPIRES = 1_800_000_000


def fields(expiration: int = EXPIRES) -> dict[str, str]:
    return {
        "AccessKeyId": "ASIATESTTESTTEST0001",
        "SecretAccessKey": "secret/+" * 5,
        "SessionToken": "token" * 100,
        "Expiration": format_utc(expiration),
    }


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(EXPIRES - 3600)


@pytest.fixture
def cache(tmp_path: Path, clock: Clock) -> CredentialCache:
    return CredentialCache(str(tmp_path / "cache" / "credentials"), clock)


@pytest.mark.parametrize(
    ("seconds_before_expiry", "skew", "hit"),
    [
        (3600, 300, True),
        (301, 300, True),
        (300, 300, False),
        (299, 300, False),
        (0, 0, False),
        (1, 0, True),
        (-10, 0, False),
        (3600, 3600, False),
    ],
)
def test_expiry_with_skew(
    cache: CredentialCache, clock: Clock, seconds_before_expiry: int, skew: int, hit: bool
) -> None:
    """An entry is served only while more than ``skew`` seconds remain before Expiration."""
    cache.store("gw", fields())
    clock.now = EXPIRES - seconds_before_expiry
    assert (cache.load("gw", skew) == fields()) is hit


def test_store_is_private_and_renders_process_json(cache: CredentialCache) -> None:
    """The file is 0600 in a 0700 dir, and its fields render as the credential_process JSON."""
    path = Path(cache.store("gw", fields()))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    loaded = cache.load("gw")
    assert loaded is not None
    assert render_process_json(loaded) == (
        '{"Version": 1, "AccessKeyId": "ASIATESTTESTTEST0001", '
        f'"SecretAccessKey": "{"secret/+" * 5}", "SessionToken": "{"token" * 100}", '
        '"Expiration": "2027-01-15T08:00:00Z"}'
    )


def _tamper_mode(path: Path) -> None:
    path.chmod(0o644)


def _tamper_owner(path: Path) -> None:
    os.chown(path, os.getuid() + 4242, -1)


def _tamper_symlink(path: Path) -> None:
    real = path.with_name("elsewhere")
    path.rename(real)
    path.symlink_to(real)


def _tamper_garbage(path: Path) -> None:
    path.write_text("{not json")


def _tamper_profile(path: Path) -> None:
    path.write_text(path.read_text().replace('"Profile": "gw"', '"Profile": "other"'))


def _tamper_huge(path: Path) -> None:
    path.write_text(path.read_text() + " " * 20000)


def _tamper_expiration(path: Path) -> None:
    path.write_text(path.read_text().replace("2027-01-15T08:00:00Z", "2027-01-15 08:00:00"))


@pytest.mark.parametrize(
    "tamper",
    [
        _tamper_mode,
        _tamper_owner,
        _tamper_symlink,
        _tamper_garbage,
        _tamper_profile,
        _tamper_huge,
        _tamper_expiration,
    ],
)
def test_untrusted_file_is_ignored_then_replaced(
    cache: CredentialCache, tamper: Callable[[Path], None]
) -> None:
    """Too-permissive, foreign-owned, symlinked, corrupt or foreign entries are never served."""
    if tamper is _tamper_owner and os.getuid() != 0:
        pytest.skip("chown to another user needs root")
    path = Path(cache.store("gw", fields()))
    tamper(path)
    assert cache.load("gw") is None
    cache.store("gw", fields())
    assert cache.load("gw") == fields()
    assert not path.is_symlink()


def test_missing_file_is_a_miss(cache: CredentialCache) -> None:
    """No file (and no directory yet) is simply a miss."""
    assert cache.load("gw") is None


def test_clear_and_list(cache: CredentialCache) -> None:
    """clear() removes one profile's file; profiles() lists what is cached."""
    cache.store("a", fields())
    cache.store("b", fields())
    assert cache.profiles() == ["a", "b"]
    assert cache.clear("a") is True
    assert cache.clear("a") is False
    assert cache.profiles() == ["b"]


@pytest.mark.parametrize("name", ["", ".hidden", "../x", "a/b", "a b", "x" * 65, "é"])
def test_profile_names_that_are_not_safe_file_names(cache: CredentialCache, name: str) -> None:
    """A profile name that could escape the cache dir is refused."""
    assert not is_valid_profile(name)
    with pytest.raises(ValueError):
        cache.path(name)


def test_store_refuses_values_needing_escapes(cache: CredentialCache) -> None:
    """A value with a quote or newline cannot be cached (and nothing is written)."""
    bad = fields() | {"SessionToken": 'a"b'}
    with pytest.raises(ValueError):
        cache.store("gw", bad)
    assert cache.profiles() == []
