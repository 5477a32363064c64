"""The D-Bus policy for BlueZ access, loaded by a real dbus-daemon and exercised.

The bus mirrors Debian's system bus: the default context of /usr/share/dbus-1/system.conf
(method calls denied unless a policy allows them) plus what BlueZ's bluetooth.conf
grants (root owns org.bluez and may call back into applications; anyone may call
org.bluez). The gateway daemon is stood in for by a peer running as user ``nobody``, and
our policy file is loaded with its user name changed to ``nobody``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from dbus_fast.aio import MessageBus
from dbus_fast.constants import MessageType
from dbus_fast.message import Message

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "systemd" / "dbus-1" / "endorse-ble-bluez.conf"
PEER_USER = "nobody"

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
  </policy>
  <!-- what bluetooth.conf grants -->
  <policy user="root">
    <allow own="org.bluez"/>
    <allow send_destination="org.bluez"/>
    <allow send_interface="org.bluez.GattCharacteristic1"/>
    <allow send_interface="org.bluez.LEAdvertisement1"/>
    <allow send_interface="org.bluez.Agent1"/>
    <allow send_interface="org.freedesktop.DBus.ObjectManager"/>
    <allow send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.bluez"/>
  </policy>
  <!-- what ModemManager's org.freedesktop.ModemManager1.conf grants -->
  <policy user="root">
    <allow own="org.freedesktop.ModemManager1"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.freedesktop.ModemManager1"/>
  </policy>
  {include}
</busconfig>
"""

# What bless does towards BlueZ (bless/backends/bluezdbus/dbus/{utils,application}.py).
BLESS_CALLS = [
    "org.freedesktop.DBus.Introspectable.Introspect",
    "org.freedesktop.DBus.ObjectManager.GetManagedObjects",
    "org.freedesktop.DBus.Properties.Set",
    "org.bluez.GattManager1.RegisterApplication",
    "org.bluez.LEAdvertisingManager1.RegisterAdvertisement",
]
# What the pairing window does (peripheral/bluez_pairing.py); Properties.Set is above.
PAIRING_CALLS = [
    "org.bluez.AgentManager1.RegisterAgent",
    "org.bluez.AgentManager1.UnregisterAgent",
    "org.bluez.AgentManager1.RequestDefaultAgent",
    "org.bluez.Adapter1.RemoveDevice",
]
# Methods the daemon never needs and must not be able to call.
OTHER_BLUEZ_CALLS = [
    "org.bluez.Device1.Pair",
    "org.bluez.Device1.Connect",
    "org.bluez.Adapter1.StartDiscovery",
    "org.bluez.Adapter1.ConnectDevice",
    "org.bluez.ProfileManager1.RegisterProfile",
]
DENIED = "org.freedesktop.DBus.Error.AccessDenied"
MM = "org.freedesktop.ModemManager1"
MM_PATH = "/org/freedesktop/ModemManager1"
# What the modemmanager backend calls, and what it must not be able to.
MM_READ = f"{MM} {MM_PATH} org.freedesktop.DBus.ObjectManager.GetManagedObjects"
MM_OTHER = [
    f"{MM} {MM_PATH}/Modem/0 {MM}.Modem.Enable",
    f"{MM} {MM_PATH}/Modem/0 {MM}.Modem.Messaging.Create",
    f"{MM} {MM_PATH} {MM}.ScanDevices",
]

pytestmark = [
    pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="needs dbus-daemon"),
]


def test_policy_is_well_formed_with_the_expected_rules() -> None:
    """The file parses as a busconfig whose endorse-ble policy holds exactly the intended rules."""
    root = ET.fromstring(POLICY.read_bytes())  # noqa: S314  (our own file, not input)
    assert root.tag == "busconfig"
    policies = root.findall("policy")
    assert [p.attrib for p in policies] == [{"user": "endorse-ble"}]
    rules = [(rule.tag, dict(rule.attrib)) for rule in policies[0]]
    allowed = {
        a["send_interface"] + (f".{a['send_member']}" if "send_member" in a else "")
        for tag, a in rules
        if tag == "allow" and a.get("send_destination") == "org.bluez"
    }
    assert allowed == {call.rpartition(".")[0] for call in BLESS_CALLS} | set(PAIRING_CALLS)
    assert rules[0] == ("deny", {"send_destination": "org.bluez", "send_type": "method_call"})
    towards_mm = [
        (tag, a.get("send_interface")) for tag, a in rules if a.get("send_destination") == MM
    ]
    assert towards_mm == [("deny", None), ("allow", "org.freedesktop.DBus.ObjectManager")]
    assert ("deny", {"receive_type": "method_call"}) in rules
    assert rules[-1] == ("allow", {"receive_type": "method_call", "receive_sender": "org.bluez"})
    # No rule may open ownership of names or sending to arbitrary destinations.
    assert all(
        "own" not in a and (tag == "deny" or "send_destination" in a or "receive_sender" in a)
        for tag, a in rules
    )


def _start_bus(
    directory: Path, include_policy: bool, policy_user: str = PEER_USER
) -> tuple[subprocess.Popen[str], str]:
    """Start dbus-daemon on ``directory``/bus; return it and its address."""
    include = ""
    if include_policy:
        policy = directory / "endorse-ble-bluez.conf"
        text = POLICY.read_text(encoding="utf-8")
        assert text.count('user="endorse-ble"') == 1
        policy.write_text(text.replace('user="endorse-ble"', f'user="{policy_user}"'))
        include = f"<include>{policy}</include>"
    config = directory / "bus.conf"
    config.write_text(
        BUS_CONFIG.format(socket=directory / "bus", include=include), encoding="utf-8"
    )
    proc = subprocess.Popen(
        ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    assert address.startswith("unix:path="), proc.stderr.read() if proc.stderr else ""
    return proc, address


@pytest.fixture
def bus_dir() -> Iterator[Path]:
    """A directory the unprivileged peer can reach (pytest's tmp_path is root-only)."""
    directory = Path(tempfile.mkdtemp(prefix="endorse-ble-bus-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory)


@pytest.fixture(params=[True, False], ids=["with-policy", "without-policy"])
def bus(request: pytest.FixtureRequest, bus_dir: Path) -> Iterator[tuple[str, bool]]:
    """A system-like bus, with or without our policy included (the control)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the daemon stand-in runs as another user")
    proc, address = _start_bus(bus_dir, request.param)
    yield address, request.param
    proc.terminate()
    proc.communicate(timeout=10)


class Peer:
    """The daemon stand-in subprocess, driven line by line."""

    def __init__(self, address: str) -> None:
        user = pwd.getpwnam(PEER_USER)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.dbus_policy_peer",
                address,
                str(user.pw_uid),
                str(user.pw_gid),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.name = self._expect("NAME")

    def _expect(self, word: str) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        assert line and line[0] == word, line
        return line[-1]

    async def command(self, line: str, answer: str) -> str:
        """Send one command; wait for its answer in a thread so the bus fixtures keep serving."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return await asyncio.to_thread(self._expect, answer)

    def close(self) -> None:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.close()
        returncode = self.proc.wait(timeout=10)
        self.proc.stdout.close()
        assert returncode == 0


@contextlib.asynccontextmanager
async def owning(address: str, name: str) -> AsyncIterator[MessageBus]:
    """A root connection that owns ``name`` and answers every call with an empty reply."""
    conn = await MessageBus(bus_address=address).connect()

    def answer(message: Message) -> Message | None:
        if message.message_type is MessageType.METHOD_CALL:
            return Message.new_method_return(message)
        return None

    conn.add_message_handler(answer)
    await conn.request_name(name)
    yield conn
    conn.disconnect()
    await conn.wait_for_disconnect()


@pytest.fixture
async def bluez(bus: tuple[str, bool]) -> AsyncIterator[MessageBus]:
    """BlueZ's stand-in: owns org.bluez."""
    async with owning(bus[0], "org.bluez") as conn:
        yield conn


@pytest.fixture
async def modemmanager(bus: tuple[str, bool]) -> AsyncIterator[MessageBus]:
    """ModemManager's stand-in: owns org.freedesktop.ModemManager1."""
    async with owning(bus[0], MM) as conn:
        yield conn


@pytest.fixture
def peer(bus: tuple[str, bool]) -> Iterator[Peer]:
    """The daemon stand-in, running as an unprivileged user."""
    the_peer = Peer(bus[0])
    yield the_peer
    the_peer.close()


async def _call_daemon(
    conn: MessageBus, destination: str, path: str, name: str, signature: str, body: list[Any]
) -> tuple[str, list[Any]]:
    """Call ``interface.member`` ``name`` on the daemon: ("ok" or the error name, body)."""
    interface, _, member = name.rpartition(".")
    reply = await conn.call(
        Message(
            destination=destination,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=body,
        )
    )
    assert reply is not None
    if reply.message_type is MessageType.ERROR:
        return str(reply.error_name), []
    return "ok", list(reply.body)


async def _read_value(conn: MessageBus, destination: str) -> str:
    status, body = await _call_daemon(
        conn, destination, "/org/bluez/endorse/service0001/char0001",
        "org.bluez.GattCharacteristic1.ReadValue", "a{sv}", [{}],
    )  # fmt: skip
    assert status != "ok" or body == [b"token"]
    return status


@pytest.mark.parametrize("call", BLESS_CALLS)
async def test_daemon_may_make_the_calls_bless_needs(
    bus: tuple[str, bool], bluez: MessageBus, peer: Peer, call: str
) -> None:
    """Every call bless makes to BlueZ goes through, with or without the policy."""
    assert await peer.command(call, "CALL") == "ok"


@pytest.mark.parametrize("call", PAIRING_CALLS)
async def test_daemon_may_run_its_pairing_window(
    bus: tuple[str, bool], bluez: MessageBus, peer: Peer, call: str
) -> None:
    """Its own agent and removing a bond go through, with or without the policy."""
    assert await peer.command(call, "CALL") == "ok"


@pytest.mark.parametrize("call", OTHER_BLUEZ_CALLS)
async def test_daemon_may_not_drive_other_bluez_interfaces(
    bus: tuple[str, bool], bluez: MessageBus, peer: Peer, call: str
) -> None:
    """Adapter/device/agent methods are refused under the policy (allowed by BlueZ's default)."""
    _, with_policy = bus
    assert await peer.command(call, "CALL") == (DENIED if with_policy else "ok")


async def test_bluez_may_call_back_into_the_daemon(
    bus: tuple[str, bool], bluez: MessageBus, peer: Peer
) -> None:
    """BlueZ (root, owner of org.bluez) reads the daemon's characteristic."""
    assert await _read_value(bluez, peer.name) == "ok"


async def _ask_agent(conn: MessageBus, destination: str) -> str:
    status, _ = await _call_daemon(
        conn, destination, "/org/endorse_ble/agent", "org.bluez.Agent1.RequestAuthorization",
        "o", ["/org/bluez/hci0/dev_C0_FF_EE_00_00_02"],
    )  # fmt: skip
    return status


async def test_bluez_may_ask_the_daemons_agent(
    bus: tuple[str, bool], bluez: MessageBus, peer: Peer
) -> None:
    """BlueZ reaches the daemon's Agent1 (to approve a pairing); no other program does."""
    address, with_policy = bus
    assert await _ask_agent(bluez, peer.name) == "ok"
    other = await MessageBus(bus_address=address).connect()
    try:
        assert await _ask_agent(other, peer.name) == (DENIED if with_policy else "ok")
    finally:
        other.disconnect()
        await other.wait_for_disconnect()


async def test_other_programs_may_not_call_the_daemon(
    bus: tuple[str, bool], bluez: MessageBus, peer: Peer
) -> None:
    """A root program that is not BlueZ cannot read the token over D-Bus under the policy."""
    address, with_policy = bus
    other = await MessageBus(bus_address=address).connect()
    try:
        assert await _read_value(other, peer.name) == (DENIED if with_policy else "ok")
    finally:
        other.disconnect()
        await other.wait_for_disconnect()


async def test_notifications_reach_bluez(
    bus: tuple[str, bool], bluez: MessageBus, peer: Peer
) -> None:
    """The daemon's PropertiesChanged signals (GATT notifications) still reach BlueZ."""
    got: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

    def on_signal(message: Message) -> None:
        if message.member == "PropertiesChanged" and message.sender == peer.name and not got.done():
            got.set_result(message)

    bluez.add_message_handler(on_signal)
    await bluez.call(
        Message(
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            member="AddMatch",
            signature="s",
            body=["type='signal',interface='org.freedesktop.DBus.Properties'"],
        )
    )
    await peer.command("SIGNAL", "SIGNAL")
    message = await asyncio.wait_for(got, timeout=10)
    assert message.body[1]["Value"].value == b"notified"


def test_policy_loads_unchanged(tmp_path: Path) -> None:
    """dbus-daemon starts with the shipped file as-is (an unknown user is only a warning)."""
    proc, address = _start_bus(tmp_path, include_policy=True, policy_user="endorse-ble")
    proc.terminate()
    _, stderr = proc.communicate(timeout=10)
    assert address.startswith("unix:path=")
    assert "parse" not in stderr.lower()


async def test_daemon_may_read_modemmanager(
    bus: tuple[str, bool], modemmanager: MessageBus, peer: Peer
) -> None:
    """GetManagedObjects, all the modemmanager backend calls, goes through."""
    assert await peer.command(MM_READ, "CALL") == "ok"


@pytest.mark.parametrize("call", MM_OTHER)
async def test_daemon_may_not_drive_the_modem_through_modemmanager(
    bus: tuple[str, bool], modemmanager: MessageBus, peer: Peer, call: str
) -> None:
    """Enabling the modem, sending SMS or rescanning are refused under the policy."""
    _, with_policy = bus
    assert await peer.command(call, "CALL") == (DENIED if with_policy else "ok")
