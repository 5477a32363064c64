"""The Debian package and the wheel say the same version, and name the same files."""

from __future__ import annotations

import re
from pathlib import Path

from endorse_ble import __version__

REPO = Path(__file__).resolve().parents[2]


def test_debian_changelog_carries_the_package_version() -> None:
    first = (REPO / "debian" / "changelog").read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"endorse-ble \(([^)]+)\) \S+; urgency=\w+", first)
    assert match, first
    # a native package: the upstream version itself, at most with a +suffix for rebuilds
    assert match.group(1).split("+")[0] == __version__


def test_every_file_the_rules_install_exists() -> None:
    """debian/rules installs from systemd/ and the top level: a renamed file breaks it."""
    rules = (REPO / "debian" / "rules").read_text(encoding="utf-8")
    sources = re.findall(r"install -D -m 0\d{3} (\S+) ", rules)
    assert "config.example.toml" in sources
    for source in sources:
        assert (REPO / source).is_file(), source
    for link in ("endorse-ble.sysusers", "endorse-ble.tmpfiles"):
        assert (REPO / "debian" / link).resolve().is_file(), link
