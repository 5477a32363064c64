"""The daemon's BlueZ agent answers as the window says, whatever BlueZ asks."""

from __future__ import annotations

import pytest
from dbus_next.errors import DBusError

from endorse_ble.peripheral.bluez_pairing import REJECTED, _Agent, capability


class Window:
    def __init__(self, open_: bool) -> None:
        self.open = open_

    def may_pair(self) -> bool:
        return self.open


DEVICE = "/org/bluez/hci0/dev_C0_FF_EE_00_00_02"


def answer(agent: _Agent, member: str, *args: object) -> object:
    """What the agent replies over D-Bus (dbus_next's decorator drops the return value of
    a direct call; BlueZ's call reaches the function the decorator recorded)."""
    return getattr(type(agent), member).__dict__["__DBUS_METHOD"].fn(agent, *args)


def test_just_works_is_approved_only_inside_a_window() -> None:
    window = Window(open_=False)
    agent = _Agent(window, passkey=None)
    for ask in (
        lambda: agent.RequestAuthorization(DEVICE),
        lambda: agent.RequestConfirmation(DEVICE, 123),
        lambda: agent.AuthorizeService(DEVICE, "0000180f-0000-1000-8000-00805f9b34fb"),
        lambda: agent.RequestPasskey(DEVICE),
    ):
        with pytest.raises(DBusError) as refused:
            ask()
        assert refused.value.type == REJECTED
    window.open = True
    agent.RequestAuthorization(DEVICE)
    agent.RequestConfirmation(DEVICE, 123)
    with pytest.raises(DBusError):  # no static passkey configured: no passkey entry
        agent.RequestPasskey(DEVICE)
    assert capability(None) == "NoInputNoOutput"


def test_a_static_passkey_is_given_only_inside_a_window() -> None:
    window = Window(open_=True)
    agent = _Agent(window, passkey=4321)
    assert capability(4321) == "KeyboardOnly"
    assert answer(agent, "RequestPasskey", DEVICE) == 4321
    with pytest.raises(DBusError):
        agent.RequestConfirmation(DEVICE, 999)  # not the configured passkey
    window.open = False
    with pytest.raises(DBusError):
        agent.RequestPasskey(DEVICE)
    with pytest.raises(DBusError):
        agent.RequestPinCode(DEVICE)
