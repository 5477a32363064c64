"""The daemon's BlueZ agent and the adapter's pairing state, over D-Bus (dbus_next).

The only gateway module that makes BlueZ's pairing calls (doc/org.bluez.AgentManager.rst,
org.bluez.Agent.rst, org.bluez.Adapter.rst): it exports an org.bluez.Agent1 object,
registers it as the default agent while a window is open, sets the adapter's Pairable and
Discoverable (with BlueZ's own timeouts as a second lock should the daemon die), lists
bonded devices and removes one. Whether a request is approved is asked of an
:class:`AgentPolicy` at the moment BlueZ asks: outside a window every request is answered
``org.bluez.Error.Rejected``, even should another program leave the adapter pairable.

Each call is bounded by ``call_timeout``; a BlueZ that does not answer raises
:class:`PairingError` with one line, and the call is abandoned.

This module deliberately does not use ``from __future__ import annotations``: dbus_next
reads D-Bus signatures from the annotation strings of ``@method`` functions.
"""

import asyncio
import logging
from typing import Any, Protocol

from dbus_next.aio.message_bus import MessageBus
from dbus_next.constants import BusType, MessageType
from dbus_next.errors import DBusError
from dbus_next.message import Message
from dbus_next.service import ServiceInterface, method
from dbus_next.signature import Variant

from endorse_ble.peripheral import dbus_reply_fix
from endorse_ble.peripheral.control_protocol import BondedDevice
from endorse_ble.peripheral.errors import PeripheralError
from endorse_ble.tokenlink.text import one_line

log = logging.getLogger(__name__)

BLUEZ = "org.bluez"
AGENT_PATH = "/org/endorse_ble/agent"
AGENT_MANAGER = "org.bluez.AgentManager1"
ADAPTER = "org.bluez.Adapter1"
DEVICE = "org.bluez.Device1"
PROPERTIES = "org.freedesktop.DBus.Properties"
REJECTED = "org.bluez.Error.Rejected"
#: Slack on BlueZ's own timeouts: the daemon closes the window itself; BlueZ's timers only
#: matter when the daemon is gone, and must not close a window the daemon just reopened.
BLUEZ_TIMEOUT_SLACK_SECONDS = 5


class PairingError(PeripheralError):
    """BlueZ refused or did not answer a pairing call; ``str`` is one line."""


class AgentPolicy(Protocol):
    """What the agent asks before approving (real: peripheral.pairing_service)."""

    def may_pair(self) -> bool: ...


def capability(passkey: int | None) -> str:
    """The agent's IO capability: NoInputNoOutput (Just Works) unless a static passkey is
    configured, then KeyboardOnly, so that BlueZ asks the agent for the passkey (LE Secure
    Connections passkey entry) and the laptop's user types the same six digits."""
    return "NoInputNoOutput" if passkey is None else "KeyboardOnly"


class _Agent(ServiceInterface):
    """org.bluez.Agent1: approves only while the policy says a window is open."""

    def __init__(self, policy: AgentPolicy, passkey: int | None) -> None:
        super().__init__("org.bluez.Agent1")
        self._policy = policy
        self._passkey = passkey

    def _approve(self, what: str, device: str) -> None:
        if not self._policy.may_pair():
            log.warning("pairing refused (no window open): %s from %s", what, one_line(device, 80))
            raise DBusError(REJECTED, "no pairing window is open")
        log.info("pairing approved: %s from %s", what, one_line(device, 80))

    @method()
    def Release(self) -> None:
        log.info("BlueZ released the pairing agent")

    @method()
    def RequestPinCode(self, device: "o") -> "s":  # noqa: F821
        # Legacy BR/EDR PIN pairing: not for an LE gateway.
        raise DBusError(REJECTED, "PIN pairing is not supported")

    @method()
    def DisplayPinCode(self, device: "o", pincode: "s") -> None:  # noqa: F821
        raise DBusError(REJECTED, "PIN pairing is not supported")

    @method()
    def RequestPasskey(self, device: "o") -> "u":  # noqa: F821
        if self._passkey is None:
            raise DBusError(REJECTED, "no passkey is configured")
        self._approve("passkey entry", device)
        return self._passkey

    @method()
    def DisplayPasskey(self, device: "o", passkey: "u", entered: "q") -> None:  # noqa: F821
        # The gateway has no display: the passkey is never logged (it is a secret).
        self._approve("passkey display", device)

    @method()
    def RequestConfirmation(self, device: "o", passkey: "u") -> None:  # noqa: F821
        # Numeric comparison needs a person at both ends; with a static passkey only that
        # passkey is confirmed, without one BlueZ asks this for Just Works with a hint.
        if self._passkey is not None and passkey != self._passkey:
            raise DBusError(REJECTED, "passkey does not match")
        self._approve("confirmation", device)

    @method()
    def RequestAuthorization(self, device: "o") -> None:  # noqa: F821
        self._approve("Just Works", device)

    @method()
    def AuthorizeService(self, device: "o", uuid: "s") -> None:  # noqa: F821
        self._approve("service authorization", device)

    @method()
    def Cancel(self) -> None:
        log.info("BlueZ cancelled a pairing request")


class BluezPairing:
    """The adapter's pairing state and bonds, and the daemon's agent, on the system bus."""

    def __init__(
        self,
        adapter: str,
        policy: AgentPolicy,
        passkey: int | None,
        call_timeout: float = 5.0,
    ) -> None:
        self._adapter_path = f"/org/bluez/{adapter}"
        self._policy = policy
        self._passkey = passkey
        self._timeout = call_timeout
        self._bus: Any = None
        self._agent_registered = False

    # --- the window ---------------------------------------------------------------------

    async def open(self, seconds: int) -> None:
        """Register the agent as the default one, then make the adapter pairable and
        discoverable; BlueZ's timeouts close it too should the daemon not."""
        bus = await self._connection()
        if not self._agent_registered:
            await self._call(
                bus,
                "/org/bluez",
                AGENT_MANAGER,
                "RegisterAgent",
                "os",
                [AGENT_PATH, capability(self._passkey)],
            )
            self._agent_registered = True
        await self._call(bus, "/org/bluez", AGENT_MANAGER, "RequestDefaultAgent", "o", [AGENT_PATH])
        bluez_timeout = seconds + BLUEZ_TIMEOUT_SLACK_SECONDS
        await self._set(bus, "PairableTimeout", Variant("u", bluez_timeout))
        await self._set(bus, "DiscoverableTimeout", Variant("u", bluez_timeout))
        await self._set(bus, "Pairable", Variant("b", True))
        await self._set(bus, "Discoverable", Variant("b", True))

    async def close(self) -> None:
        """Pairable and Discoverable off, agent unregistered; each step tried even if an
        earlier one failed, the first failure raised at the end."""
        bus = await self._connection()
        failures: list[PairingError] = []
        for name in ("Pairable", "Discoverable"):
            try:
                await self._set(bus, name, Variant("b", False))
            except PairingError as exc:
                failures.append(exc)
        if self._agent_registered:
            try:
                await self._call(
                    bus, "/org/bluez", AGENT_MANAGER, "UnregisterAgent", "o", [AGENT_PATH]
                )
            except PairingError as exc:
                if "DoesNotExist" not in str(exc):  # BlueZ restarted meanwhile: gone already
                    failures.append(exc)
            self._agent_registered = False
        if failures:
            raise failures[0]

    # --- bonds ----------------------------------------------------------------------------

    async def bonds(self) -> list[BondedDevice]:
        """Devices under the adapter that BlueZ keeps keys for (Paired or Bonded)."""
        bus = await self._connection()
        reply = await self._call(
            bus, "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects"
        )
        found = []
        for path, interfaces in reply[0].items():
            props = interfaces.get(DEVICE)
            if props is None or not str(path).startswith(self._adapter_path + "/"):
                continue
            value = {k: getattr(v, "value", v) for k, v in props.items()}
            if value.get("Paired") or value.get("Bonded"):
                found.append(
                    BondedDevice(
                        one_line(str(value.get("Address", "")), 17),
                        one_line(str(value.get("Alias", value.get("Name", ""))), 64),
                        bool(value.get("Connected", False)),
                    )
                )
        return sorted(found, key=lambda d: d.address)

    async def remove(self, address: str) -> bool:
        """Forget the device's keys (Adapter1.RemoveDevice); False when BlueZ has no such
        device under the adapter."""
        bus = await self._connection()
        path = f"{self._adapter_path}/dev_{address.replace(':', '_')}"
        try:
            await self._call(bus, self._adapter_path, ADAPTER, "RemoveDevice", "o", [path])
        except PairingError as exc:
            if "DoesNotExist" in str(exc) or "UnknownObject" in str(exc):
                return False
            raise
        return True

    async def stop(self) -> None:
        """Leave the bus (BlueZ drops an agent whose owner leaves)."""
        bus, self._bus = self._bus, None
        self._agent_registered = False
        if bus is not None:
            bus.disconnect()

    # --- D-Bus ------------------------------------------------------------------------------

    async def _connection(self) -> Any:
        if self._bus is not None and self._bus.connected:
            return self._bus
        try:
            bus = await asyncio.wait_for(
                MessageBus(bus_type=BusType.SYSTEM).connect(), self._timeout
            )
        except (TimeoutError, OSError, ValueError, EOFError) as exc:
            raise PairingError(f"cannot reach the system bus: {exc or type(exc).__name__}") from exc
        dbus_reply_fix.install(bus, DBusError)
        bus.export(AGENT_PATH, _Agent(self._policy, self._passkey))
        self._bus = bus
        self._agent_registered = False
        return bus

    async def _set(self, bus: Any, name: str, value: Variant) -> None:
        await self._call(bus, self._adapter_path, PROPERTIES, "Set", "ssv", [ADAPTER, name, value])

    async def _call(
        self,
        bus: Any,
        path: str,
        interface: str,
        member: str,
        signature: str = "",
        body: list[Any] | None = None,
    ) -> list[Any]:
        message = Message(
            destination=BLUEZ,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=body or [],
        )
        try:
            reply = await asyncio.wait_for(bus.call(message), self._timeout)
        except TimeoutError:
            raise PairingError(
                f"BlueZ did not answer {member} within {self._timeout:g} s"
            ) from None
        except (OSError, EOFError) as exc:
            raise PairingError(f"lost the system bus during {member}: {exc}") from exc
        if reply is None:
            raise PairingError(f"lost the system bus during {member}")
        if reply.message_type is MessageType.ERROR:
            text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            raise PairingError(
                f"BlueZ refused {member}: {reply.error_name} {one_line(text, 80)}".strip()
            )
        return list(reply.body)
