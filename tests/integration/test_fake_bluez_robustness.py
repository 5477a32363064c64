"""The fake BlueZ answers bad calls with BlueZ's errors, restarts like bluetoothd, and its
command line cleans up after itself."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from endorse_ble.testbed.bluez.harness import stop_process
from endorse_ble.testbed.bluez.pytest_fixtures import (
    FakeBluezHandle,
    read_line_starting,
    spawn,
    subprocess_env,
)
from endorse_ble.testbed.bluez.sample_profile import READ_UUID

pytestmark = pytest.mark.integration

ADAPTER = "/org/bluez/hci1"


@pytest.fixture
async def central_bus(fake_bluez: FakeBluezHandle) -> AsyncIterator[MessageBus]:
    """A raw D-Bus connection to the central bus."""
    bus = await MessageBus(bus_address=fake_bluez.central_bus).connect()
    yield bus
    bus.disconnect()
    await bus.wait_for_disconnect()


async def _call(
    bus: MessageBus,
    path: str,
    interface: str,
    member: str,
    signature: str = "",
    body: list[Any] | None = None,
) -> Message:
    reply = await bus.call(
        Message(
            destination="org.bluez",
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=body or [],
        )
    )
    assert reply is not None
    return reply


@pytest.mark.parametrize(
    ("path", "interface", "member", "signature", "body", "error"),
    [
        (
            "/org/bluez/hci9",
            "org.bluez.Adapter1",
            "StartDiscovery",
            "",
            [],
            "org.freedesktop.DBus.Error.UnknownObject",
        ),
        (
            ADAPTER,
            "org.bluez.Adapter1",
            "StartDiscovery",
            "s",
            ["x"],
            "org.freedesktop.DBus.Error.UnknownMethod",
        ),
        (ADAPTER, "org.bluez.Adapter1", "StopDiscovery", "", [], "org.bluez.Error.Failed"),
        (
            ADAPTER,
            "org.bluez.Adapter1",
            "SetDiscoveryFilter",
            "a{sv}",
            [{"Bogus": Variant("b", True)}],
            "org.bluez.Error.InvalidArguments",
        ),
        (
            ADAPTER,
            "org.bluez.Adapter1",
            "RemoveDevice",
            "o",
            ["/org/bluez/hci1/dev_00"],
            "org.bluez.Error.DoesNotExist",
        ),
        (
            ADAPTER,
            "org.freedesktop.DBus.Properties",
            "Get",
            "ss",
            ["org.bluez.Adapter1", "Nope"],
            "org.freedesktop.DBus.Error.InvalidArgs",
        ),
        (
            ADAPTER,
            "org.freedesktop.DBus.Properties",
            "Set",
            "ssv",
            ["org.bluez.Adapter1", "Address", Variant("s", "x")],
            "org.freedesktop.DBus.Error.PropertyReadOnly",
        ),
    ],
)
async def test_bad_calls_get_bluez_errors(
    central_bus: MessageBus,
    path: str,
    interface: str,
    member: str,
    signature: str,
    body: list[Any],
    error: str,
) -> None:
    """Unknown objects, bad signatures and wrong-state calls get the error BlueZ sends."""
    reply = await _call(central_bus, path, interface, member, signature, body)
    assert reply.message_type == MessageType.ERROR
    assert reply.error_name == error
    alive = await _call(
        central_bus,
        ADAPTER,
        "org.freedesktop.DBus.Properties",
        "Get",
        "ss",
        ["org.bluez.Adapter1", "Powered"],
    )
    assert alive.body[0].value is True


async def test_start_discovery_twice_is_in_progress(central_bus: MessageBus) -> None:
    """A client's second StartDiscovery gets InProgress; after Stop it may start again."""
    first = await _call(central_bus, ADAPTER, "org.bluez.Adapter1", "StartDiscovery")
    second = await _call(central_bus, ADAPTER, "org.bluez.Adapter1", "StartDiscovery")
    assert first.message_type == MessageType.METHOD_RETURN
    assert second.error_name == "org.bluez.Error.InProgress"
    stop = await _call(central_bus, ADAPTER, "org.bluez.Adapter1", "StopDiscovery")
    assert stop.message_type == MessageType.METHOD_RETURN


async def _owner_events(bus: MessageBus) -> asyncio.Queue[str]:
    events: asyncio.Queue[str] = asyncio.Queue()

    def handler(msg: Message) -> None:
        if msg.member == "NameOwnerChanged" and msg.body and msg.body[0] == "org.bluez":
            events.put_nowait("up" if msg.body[2] else "down")

    await bus.call(
        Message(
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            member="AddMatch",
            signature="s",
            body=["type='signal',member='NameOwnerChanged',arg0='org.bluez'"],
        )
    )
    bus.add_message_handler(handler)
    return events


async def test_restart_forgets_registered_application(fake_bluez: FakeBluezHandle) -> None:
    """Restart makes org.bluez vanish from both buses and return without bless's app."""
    await fake_bluez.start_peripheral()
    assert (await fake_bluez.control.state()).applications == 1
    buses = [
        await MessageBus(bus_address=a).connect()
        for a in (fake_bluez.peripheral_bus, fake_bluez.central_bus)
    ]
    try:
        queues = [await _owner_events(bus) for bus in buses]
        await fake_bluez.control.restart(0.2)
        for queue in queues:
            assert await asyncio.wait_for(queue.get(), 5) == "down"
            assert await asyncio.wait_for(queue.get(), 5) == "up"
    finally:
        for bus in buses:
            bus.disconnect()
    state = await fake_bluez.control.state()
    assert state.running and state.applications == 0 and state.advertisements == 0
    status, result = await fake_bluez.run_central("--timeout", "1")
    assert status == 1 and result["error"] == "not_found"


def _daemons_using(directory: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "dbus-daemon" in cmdline and str(directory) in cmdline:
            pids.append(int(entry.name))
    return pids


async def test_cli_prints_three_lines_and_cleans_up_on_sigterm(tmp_path: Path) -> None:
    """``endorse-testbed bluez`` prints the bus lines and READY; SIGTERM removes everything."""
    proc = await spawn(
        subprocess_env(""),
        "-m",
        "endorse_ble.testbed",
        "bluez",
        "--mtu",
        "185",
        stderr=tmp_path / "cli.log",
    )
    assert proc.stdout is not None
    lines = [(await asyncio.wait_for(proc.stdout.readline(), 15)).decode() for _ in range(3)]
    assert lines[0].startswith("PERIPHERAL_BUS=unix:path=")
    assert lines[1].startswith("CENTRAL_BUS=unix:path=")
    assert lines[2] == "READY\n"
    sockets = [Path(line.split("path=", 1)[1].split(",")[0]) for line in lines[:2]]
    assert all(s.exists() for s in sockets)
    daemons = [pid for s in sockets for pid in _daemons_using(s.parent)]
    assert len(daemons) == 2
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 15) == 0
    assert not any(s.parent.exists() for s in sockets)
    assert not any(_running(pid) for pid in daemons)


def _running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


async def _wait_exit(pid: int) -> None:
    """Wait for an unrelated process to exit (pidfd becomes readable then)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    exited = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(fd, exited.set)
    try:
        await exited.wait()
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def test_killed_cli_leaves_no_daemon(tmp_path: Path) -> None:
    """A SIGKILLed ``endorse-testbed bluez`` takes its dbus-daemons with it."""
    proc = await spawn(
        subprocess_env(""), "-m", "endorse_ble.testbed", "bluez", stderr=tmp_path / "k.log"
    )
    lines = [await read_line_starting(proc, p) for p in ("PERIPHERAL_BUS=", "CENTRAL_BUS=")]
    await read_line_starting(proc, "READY")
    directories = [Path(line.split("path=", 1)[1].split(",")[0]).parent for line in lines]
    daemons = [pid for d in directories for pid in _daemons_using(d)]
    assert len(daemons) == 2
    os.kill(proc.pid, signal.SIGKILL)
    await proc.wait()
    try:
        async with asyncio.timeout(10):
            for pid in daemons:
                await _wait_exit(pid)
    finally:
        for directory in directories:  # a killed process cannot remove its sockets
            shutil.rmtree(directory, ignore_errors=True)


async def test_bless_stop_unregisters_cleanly(fake_bluez: FakeBluezHandle) -> None:
    """bless's stop (Alias "", UnregisterAdvertisement, UnregisterApplication) succeeds."""
    peripheral = await fake_bluez.start_peripheral()
    state = await fake_bluez.control.state()
    assert (state.applications, state.advertisements) == (1, 1)
    assert await stop_process(peripheral) == 0
    state = await fake_bluez.control.state()
    assert (state.applications, state.advertisements) == (0, 0)


async def _connected_device(bus: MessageBus) -> str:
    """Discover the sample peripheral with raw D-Bus calls and connect; its device path."""
    found: asyncio.Queue[str] = asyncio.Queue()

    def handler(msg: Message) -> None:
        if msg.member == "InterfacesAdded" and "org.bluez.Device1" in msg.body[1]:
            found.put_nowait(msg.body[0])

    bus.add_message_handler(handler)
    await bus.call(
        Message(
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            member="AddMatch",
            signature="s",
            body=["type='signal',member='InterfacesAdded'"],
        )
    )
    await _call(bus, ADAPTER, "org.bluez.Adapter1", "StartDiscovery")
    device = await asyncio.wait_for(found.get(), 5)
    await _call(bus, ADAPTER, "org.bluez.Adapter1", "StopDiscovery")
    reply = await _call(bus, device, "org.bluez.Device1", "Connect")
    assert reply.message_type == MessageType.METHOD_RETURN, reply.body
    return device


async def _char_path(bus: MessageBus, uuid: str) -> str:
    reply = await _call(bus, "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")
    for path, interfaces in reply.body[0].items():
        char = interfaces.get("org.bluez.GattCharacteristic1")
        if char and char["UUID"].value == uuid:
            return str(path)
    raise AssertionError(f"no characteristic {uuid}")


async def test_concurrent_reads_and_wrong_state_calls(
    fake_bluez: FakeBluezHandle, central_bus: MessageBus
) -> None:
    """Reads of one value share one ATT exchange; other offsets get InProgress; a
    reconnect is a no-op; objects vanish on Disconnect."""
    await fake_bluez.start_peripheral("--read-size", "300")
    device = await _connected_device(central_bus)
    char = await _char_path(central_bus, READ_UUID)
    await fake_bluez.control.reset_counters()
    read = "org.bluez.GattCharacteristic1"
    first, second, other = await asyncio.gather(
        _call(central_bus, char, read, "ReadValue", "a{sv}", [{}]),
        _call(central_bus, char, read, "ReadValue", "a{sv}", [{}]),
        _call(central_bus, char, read, "ReadValue", "a{sv}", [{"offset": Variant("q", 5)}]),
    )
    assert first.body == second.body and len(first.body[0]) == 512
    assert other.error_name == "org.bluez.Error.InProgress"
    assert (await fake_bluez.control.counters())["read.pdus_c2p"] == 1
    again = await _call(central_bus, device, "org.bluez.Device1", "Connect")
    assert again.message_type == MessageType.METHOD_RETURN
    await _call(central_bus, device, "org.bluez.Device1", "Disconnect")
    stale = await _call(central_bus, char, read, "ReadValue", "a{sv}", [{}])
    assert stale.error_name == "org.freedesktop.DBus.Error.UnknownObject"
