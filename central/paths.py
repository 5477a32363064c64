"""Where the laptop CLI keeps its config and cache, computed as platformdirs would.

platformdirs itself costs more to import than the whole cached ``credential-process`` run
may take, so this module repeats its rules (platformdirs 4, appname ``endorse-ble``, no
author, no version) with ``os`` alone; a test checks both agree on Linux and macOS.

- Linux and other Unix: ``$XDG_CONFIG_HOME`` (if absolute) or ``~/.config``;
  ``$XDG_CACHE_HOME`` (if absolute) or ``~/.cache``; then ``endorse-ble``.
- macOS: ``~/Library/Application Support/endorse-ble`` and ``~/Library/Caches/endorse-ble``.
- Windows: ``%LOCALAPPDATA%\\endorse-ble\\endorse-ble`` and ``...\\endorse-ble\\Cache``.
"""

from __future__ import annotations

import os
import sys

APP_NAME = "endorse-ble"
CONFIG_FILE_NAME = "config.toml"
#: Sub-directory of the cache dir holding one JSON file per profile.
CREDENTIALS_SUBDIR = "credentials"


def _xdg(variable: str, fallback: str) -> str:
    # platformdirs ignores a relative XDG_* value (the XDG spec says to), and so do we.
    value = os.environ.get(variable, "")
    return value if os.path.isabs(value) else os.path.expanduser(fallback)


def _windows_local_appdata() -> str:
    value = os.environ.get("LOCALAPPDATA", "")
    if os.path.isabs(value):
        return os.path.normpath(value)
    return os.path.normpath(os.path.expanduser("~\\AppData\\Local"))


def user_config_dir(platform: str | None = None) -> str:
    """The per-user config directory of endorse-ble (not created)."""
    platform = platform or sys.platform
    if platform == "darwin":
        return os.path.join(os.path.expanduser("~/Library/Application Support"), APP_NAME)
    if platform == "win32":
        return os.path.join(_windows_local_appdata(), APP_NAME, APP_NAME)
    return os.path.join(_xdg("XDG_CONFIG_HOME", "~/.config"), APP_NAME)


def user_cache_dir(platform: str | None = None) -> str:
    """The per-user cache directory of endorse-ble (not created)."""
    platform = platform or sys.platform
    if platform == "darwin":
        return os.path.join(os.path.expanduser("~/Library/Caches"), APP_NAME)
    if platform == "win32":
        return os.path.join(_windows_local_appdata(), APP_NAME, APP_NAME, "Cache")
    return os.path.join(_xdg("XDG_CACHE_HOME", "~/.cache"), APP_NAME)


def default_config_path() -> str:
    """``<user config dir>/config.toml``."""
    return os.path.join(user_config_dir(), CONFIG_FILE_NAME)


def credentials_cache_dir() -> str:
    """The directory of the per-profile credential cache files."""
    return os.path.join(user_cache_dir(), CREDENTIALS_SUBDIR)
