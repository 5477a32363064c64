"""The cellular interface's state is read from sysfs flags, hostile names refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from endorse_ble.peripheral.errors import EndorseFetchError, EndorseFetchReason
from endorse_ble.peripheral.link_state import LinkState, link_state, require_link_up


def fake_sysfs(tmp_path: Path, name: str, flags: str) -> Path:
    (tmp_path / name).mkdir()
    (tmp_path / name / "flags").write_text(flags)
    return tmp_path


@pytest.mark.parametrize(
    ("flags", "state"),
    [
        ("0x1091\n", LinkState.UP),  # UP|POINTOPOINT|RUNNING|NOARP, as ppp0 shows
        ("0x1003\n", LinkState.UP),  # UP|BROADCAST|MULTICAST
        ("0x1002\n", LinkState.DOWN),
        ("0x0\n", LinkState.DOWN),
        ("garbage\n", LinkState.DOWN),
        ("", LinkState.DOWN),
    ],
)
def test_state_follows_the_iff_up_bit(tmp_path: Path, flags: str, state: LinkState) -> None:
    """IFF_UP set means up; clear or unreadable flags mean down."""
    assert link_state("ppp0", fake_sysfs(tmp_path, "ppp0", flags)) is state


@pytest.mark.parametrize("name", ["ppp1", "..", ".", "../../etc", "a/b", "x" * 16, ""])
def test_absent_or_impossible_names_are_missing(tmp_path: Path, name: str) -> None:
    """An absent interface, or a name that could walk out of sysfs, is MISSING."""
    fake_sysfs(tmp_path, "ppp0", "0x1091\n")
    assert link_state(name, tmp_path) is LinkState.MISSING


@pytest.mark.parametrize(
    ("flags", "reason"),
    [(None, EndorseFetchReason.INTERFACE_MISSING), ("0x1090", EndorseFetchReason.INTERFACE_DOWN)],
)
def test_require_link_up_names_the_interface_and_the_reason(
    tmp_path: Path, flags: str | None, reason: EndorseFetchReason
) -> None:
    """A missing or down interface raises with its reason and name."""
    if flags is not None:
        fake_sysfs(tmp_path, "ppp0", flags)
    with pytest.raises(EndorseFetchError) as caught:
        require_link_up("ppp0", tmp_path)
    assert caught.value.reason is reason
    assert "'ppp0'" in str(caught.value)


def test_loopback_is_up_on_this_machine() -> None:
    """The real sysfs reports lo as up (the reader works against the kernel, not just files)."""
    require_link_up("lo")


def test_the_client_checks_the_link_before_opening_any_socket(tmp_path: Path) -> None:
    """EndorseClient.fetch with a down interface fails as INTERFACE_DOWN, no HTTP attempted."""
    from endorse_ble.peripheral.endorse_client import EndorseClient
    from endorse_ble.peripheral.settings import CellularSettings, EndorseSettings

    sysfs = fake_sysfs(tmp_path, "ppp0", "0x1090\n")
    # 192.0.2.1 (TEST-NET-1) is never contacted: the link check fails first.
    settings = EndorseSettings(url="https://192.0.2.1/", connect_timeout_seconds=30.0)
    client = EndorseClient(settings, CellularSettings(interface="ppp0"), sysfs_net=sysfs)
    with client, pytest.raises(EndorseFetchError) as caught:
        client.fetch()
    assert caught.value.reason is EndorseFetchReason.INTERFACE_DOWN
