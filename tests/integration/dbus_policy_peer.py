"""A stand-in for the gateway daemon's D-Bus side, run as an unprivileged user.

Run by tests/integration/test_dbus_policy.py as ``python -m tests.integration.dbus_policy_peer
ADDRESS UID GID``: it imports everything while still root (the interpreter may live where
the target user cannot read), drops to UID/GID, connects, and then:

- prints ``NAME <unique name>``;
- answers ``org.bluez.GattCharacteristic1.ReadValue`` with ``b"token"`` and
  ``org.bluez.Agent1.RequestAuthorization`` with an empty reply (approved);
- calls each ``interface.member`` named on stdin on ``org.bluez`` and prints
  ``CALL <interface.member> ok`` or ``CALL <interface.member> <error name>``;
- on ``SIGNAL``, emits a PropertiesChanged(Value) signal and prints ``SIGNAL sent``;
- exits on EOF.
"""

from __future__ import annotations

import asyncio
import concurrent.futures.thread  # noqa: F401  (lazy in asyncio; import it while root)
import os
import sys

from dbus_fast.aio import MessageBus
from dbus_fast.constants import MessageType
from dbus_fast.message import Message
from dbus_fast.signature import Variant

CHAR_PATH = "/org/bluez/endorse/service0001/char0001"


def _answer(message: Message) -> Message | None:
    if (
        message.message_type is MessageType.METHOD_CALL
        and message.interface == "org.bluez.GattCharacteristic1"
        and message.member == "ReadValue"
    ):
        return Message.new_method_return(message, "ay", [b"token"])
    if (
        message.message_type is MessageType.METHOD_CALL
        and message.interface == "org.bluez.Agent1"
        and message.member == "RequestAuthorization"
    ):
        return Message.new_method_return(message)
    return None


async def _call(bus: MessageBus, line: str) -> str:
    """``interface.member`` to BlueZ, or ``destination path interface.member``."""
    destination, path, name = "org.bluez", "/org/bluez/hci0", line
    if " " in line:
        destination, path, name = line.split()
    interface, _, member = name.rpartition(".")
    reply = await bus.call(
        Message(destination=destination, path=path, interface=interface, member=member)
    )
    assert reply is not None
    return "ok" if reply.message_type is MessageType.METHOD_RETURN else str(reply.error_name)


async def _main(address: str) -> None:
    bus = await MessageBus(bus_address=address).connect()
    bus.add_message_handler(_answer)
    print("NAME", bus.unique_name, flush=True)
    loop = asyncio.get_running_loop()
    while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
        if line == "SIGNAL":
            value = {"Value": Variant("ay", b"notified")}
            await bus.send(
                Message.new_signal(
                    CHAR_PATH,
                    "org.freedesktop.DBus.Properties",
                    "PropertiesChanged",
                    "sa{sv}as",
                    ["org.bluez.GattCharacteristic1", value, []],
                )
            )
            print("SIGNAL sent", flush=True)
        else:
            print("CALL", line, await _call(bus, line), flush=True)
    bus.disconnect()


if __name__ == "__main__":
    bus_address, uid, gid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    asyncio.run(_main(bus_address))
