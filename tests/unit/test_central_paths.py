"""Our config/cache paths are the ones platformdirs would give, without importing it."""

from __future__ import annotations

from pathlib import Path

import platformdirs.macos
import platformdirs.unix
import pytest

from endorse_ble.central import paths


@pytest.mark.parametrize("xdg", [True, False])
def test_linux_matches_platformdirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, xdg: bool
) -> None:
    """On Linux both honour absolute XDG_* variables and fall back to ~/.config, ~/.cache."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        if xdg:
            monkeypatch.setenv(name, str(tmp_path / name.lower()))
        else:
            monkeypatch.delenv(name, raising=False)
    reference = platformdirs.unix.Unix(appname="endorse-ble")
    assert paths.user_config_dir("linux") == reference.user_config_dir
    assert paths.user_cache_dir("linux") == reference.user_cache_dir


def test_relative_xdg_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative XDG_CACHE_HOME is ignored, as the XDG spec and platformdirs say."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")
    assert paths.user_cache_dir("linux") == str(tmp_path / ".cache" / "endorse-ble")
    assert platformdirs.unix.Unix(appname="endorse-ble").user_cache_dir == paths.user_cache_dir(
        "linux"
    )


def test_macos_matches_platformdirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On macOS: ~/Library/Application Support and ~/Library/Caches."""
    monkeypatch.setenv("HOME", str(tmp_path))
    reference = platformdirs.macos.MacOS(appname="endorse-ble")
    assert paths.user_config_dir("darwin") == reference.user_config_dir
    assert paths.user_cache_dir("darwin") == reference.user_cache_dir


def test_windows_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Windows: %LOCALAPPDATA%/endorse-ble/endorse-ble[/Cache] (author = appname)."""
    monkeypatch.setenv("LOCALAPPDATA", "/c/Users/u/AppData/Local")
    assert paths.user_config_dir("win32") == "/c/Users/u/AppData/Local/endorse-ble/endorse-ble"
    assert paths.user_cache_dir("win32") == "/c/Users/u/AppData/Local/endorse-ble/endorse-ble/Cache"
