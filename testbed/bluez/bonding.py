"""The gateway host's pairing in the fake BlueZ: agents, the pairable window and bonds.

As bluetoothd does (doc/org.bluez.AgentManager.rst, org.bluez.Agent.rst,
org.bluez.Adapter.rst): AgentManager1 at /org/bluez registers agents per owner,
RequestDefaultAgent picks the one asked when a remote device pairs, an agent whose owner
leaves the bus is dropped. Adapter1 Pairable/Discoverable are writable and switch
themselves off after PairableTimeout/DiscoverableTimeout seconds (0: never). A laptop's
Pair() bonds only while hci0 is Pairable and its default agent approves: for Just Works
(NoInputNoOutput) BlueZ asks RequestAuthorization, for passkey entry (KeyboardOnly,
KeyboardDisplay) RequestPasskey, for DisplayYesNo RequestConfirmation, for DisplayOnly it
tells DisplayPasskey. The laptop side has no agent of its own here: its user is taken to
type or confirm whatever is asked. A bond is a Device1 under hci0 with Paired and Bonded,
kept across disconnections until Adapter1.RemoveDevice.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from dbus_fast import Message, Variant

from endorse_ble.testbed.bluez.objects import (
    DBusReplyError,
    Interface,
    Method,
    ObjectServer,
    call_remote,
)

logger = logging.getLogger(__name__)

AGENT_MANAGER = "org.bluez.AgentManager1"
AGENT = "org.bluez.Agent1"
ADAPTER = "org.bluez.Adapter1"
DEVICE = "org.bluez.Device1"
ERR = "org.bluez.Error"
CAPABILITIES = ("DisplayOnly", "DisplayYesNo", "KeyboardOnly", "NoInputNoOutput", "KeyboardDisplay")
#: bluetoothd waits this long for an agent's answer before failing the pairing.
AGENT_REPLY_SECONDS = 10.0


@dataclass(frozen=True)
class Agent:
    sender: str
    path: str
    capability: str


def device_path(adapter_path: str, address: str) -> str:
    """``/org/bluez/hciN/dev_AA_BB_CC_DD_EE_FF``."""
    return f"{adapter_path}/dev_{address.replace(':', '_')}"


class PeripheralPairing:
    """hci0's agents, pairable window and bonds on the peripheral bus."""

    def __init__(self, server: ObjectServer, adapter_path: str) -> None:
        self.server = server
        self.adapter_path = adapter_path
        self.agents: list[Agent] = []
        self.default: Agent | None = None
        self.bonds: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}

    # --- objects ------------------------------------------------------------------------

    def install(self, adapter: Interface) -> None:
        """Export AgentManager1 and make the adapter's pairing properties writable."""
        adapter.props["Pairable"] = Variant("b", False)
        for name in ("Pairable", "Discoverable"):
            adapter.setters[name] = self._switch_setter(name)
        for name in ("PairableTimeout", "DiscoverableTimeout"):
            adapter.setters[name] = self._timeout_setter(name)
        adapter.methods["RemoveDevice"] = Method("o", "", self._remove_device)
        manager = Interface(
            methods={
                "RegisterAgent": Method("os", "", self._register_agent),
                "UnregisterAgent": Method("o", "", self._unregister_agent),
                "RequestDefaultAgent": Method("o", "", self._request_default_agent),
            }
        )
        self.server.add("/org/bluez", {AGENT_MANAGER: manager})

    def _prop(self, name: str) -> Any:
        return self.server.prop(self.adapter_path, ADAPTER, name)

    def _switch_setter(self, name: str) -> Any:
        async def setter(msg: Message, value: Variant) -> None:
            if value.signature != "b":
                raise DBusReplyError(f"{ERR}.InvalidArguments", "Invalid arguments in method call")
            self._switch(name, bool(value.value))

        return setter

    def _switch(self, name: str, on: bool) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        self.server.update(self.adapter_path, ADAPTER, {name: Variant("b", on)})
        timeout = int(self._prop(f"{name}Timeout"))
        if on and timeout:
            loop = asyncio.get_running_loop()
            self._timers[name] = loop.call_later(timeout, self._switch, name, False)
        logger.info("hci0 %s %s", name, "on" if on else "off")

    def _timeout_setter(self, name: str) -> Any:
        async def setter(msg: Message, value: Variant) -> None:
            if value.signature != "u":
                raise DBusReplyError(f"{ERR}.InvalidArguments", "Invalid arguments in method call")
            self.server.update(self.adapter_path, ADAPTER, {name: value})

        return setter

    # --- agents ---------------------------------------------------------------------------

    async def _register_agent(self, msg: Message) -> list[Any]:
        path, capability = msg.body
        sender = str(msg.sender)
        if capability == "":
            capability = "KeyboardDisplay"
        if capability not in CAPABILITIES:
            raise DBusReplyError(f"{ERR}.InvalidArguments", "Invalid arguments in method call")
        if any(a.sender == sender for a in self.agents):
            raise DBusReplyError(f"{ERR}.AlreadyExists", "Already Exists")
        self.agents.append(Agent(sender, path, capability))
        logger.info("agent %s%s registered (%s)", sender, path, capability)
        return []

    def _owned(self, msg: Message) -> Agent:
        sender, path = str(msg.sender), msg.body[0]
        for agent in self.agents:
            if agent.sender == sender and agent.path == path:
                return agent
        raise DBusReplyError(f"{ERR}.DoesNotExist", "Does Not Exist")

    async def _unregister_agent(self, msg: Message) -> list[Any]:
        self._drop(self._owned(msg))
        return []

    async def _request_default_agent(self, msg: Message) -> list[Any]:
        self.default = self._owned(msg)
        return []

    def _drop(self, agent: Agent) -> None:
        self.agents.remove(agent)
        if self.default == agent:
            self.default = None
        logger.info("agent %s%s unregistered", agent.sender, agent.path)

    def forget_sender(self, sender: str) -> None:
        """The agent's owner left the bus: bluetoothd drops its agent."""
        for agent in [a for a in self.agents if a.sender == sender]:
            self._drop(agent)

    # --- pairing ----------------------------------------------------------------------------

    async def authorize(self, address: str) -> None:
        """What hci0 does when the laptop at ``address`` pairs; raises the error the
        laptop's Pair() gets when it does not bond."""
        if not self._prop("Pairable"):
            raise DBusReplyError(f"{ERR}.AuthenticationFailed", "Authentication Failed")
        agent = self.default or (self.agents[0] if self.agents else None)
        if agent is None:
            raise DBusReplyError(f"{ERR}.AuthenticationRejected", "Authentication Rejected")
        device = device_path(self.adapter_path, address)
        try:
            await self._ask(agent, device)
        except DBusReplyError as err:
            logger.info("agent refused pairing with %s: %s", address, err.name)
            raise DBusReplyError(f"{ERR}.AuthenticationFailed", "Authentication Failed") from err
        self.bonds.add(address)
        self.server.update(
            device, DEVICE, {"Paired": Variant("b", True), "Bonded": Variant("b", True)}
        )
        logger.info("bonded with %s", address)

    async def _ask(self, agent: Agent, device: str) -> None:
        passkey = secrets.randbelow(1_000_000)
        calls: dict[str, tuple[str, str, list[Any]]] = {
            "NoInputNoOutput": ("RequestAuthorization", "o", [device]),
            "KeyboardOnly": ("RequestPasskey", "o", [device]),
            "KeyboardDisplay": ("RequestPasskey", "o", [device]),
            "DisplayYesNo": ("RequestConfirmation", "ou", [device, passkey]),
            "DisplayOnly": ("DisplayPasskey", "ouq", [device, passkey, 0]),
        }
        member, signature, body = calls[agent.capability]
        reply = await call_remote(
            self.server.bus, agent.sender, agent.path, AGENT, member, signature, body,
            limit=AGENT_REPLY_SECONDS,
        )  # fmt: skip
        if member == "RequestPasskey" and not (
            reply and isinstance(reply[0], int) and reply[0] <= 999_999
        ):
            raise DBusReplyError(f"{ERR}.Rejected", "not a passkey")

    def bonded(self, address: str) -> bool:
        return address in self.bonds

    # --- the laptop's Device1 on hci0 -------------------------------------------------------

    def connected(self, address: str) -> str:
        """A laptop connected: its Device1 under hci0 (kept from a bond, or new)."""
        path = device_path(self.adapter_path, address)
        if path in self.server.objects:
            self.server.update(path, DEVICE, {"Connected": Variant("b", True)})
            return path
        bonded = self.bonded(address)
        props = {
            "Address": Variant("s", address),
            "AddressType": Variant("s", "public"),
            "Alias": Variant("s", address.replace(":", "-")),
            "Connected": Variant("b", True),
            "Paired": Variant("b", bonded),
            "Bonded": Variant("b", bonded),
            "Adapter": Variant("o", self.adapter_path),
        }
        self.server.add(path, {DEVICE: Interface(props=props)})
        return path

    def disconnected(self, address: str) -> None:
        """A bonded laptop's Device1 stays (with its keys); another's goes."""
        path = device_path(self.adapter_path, address)
        if self.bonded(address):
            self.server.update(path, DEVICE, {"Connected": Variant("b", False)})
        else:
            self.server.remove(path)

    async def _remove_device(self, msg: Message) -> list[Any]:
        path = str(msg.body[0])
        if path not in self.server.objects or not path.startswith(self.adapter_path + "/"):
            raise DBusReplyError(f"{ERR}.DoesNotExist", "Does Not Exist")
        address = str(self.server.prop(path, DEVICE, "Address"))
        self.bonds.discard(address)
        if self.server.prop(path, DEVICE, "Connected"):
            # Simplified: the link stays up until the laptop leaves, without the keys.
            self.server.update(
                path, DEVICE, {"Paired": Variant("b", False), "Bonded": Variant("b", False)}
            )
        else:
            self.server.remove(path)
        logger.info("bond with %s removed", address)
        return []

    def shutdown(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
