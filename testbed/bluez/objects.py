"""A small D-Bus object server on a raw dbus-fast connection, shaped like BlueZ's gdbus.

It keeps a tree of objects (path -> interface -> properties and methods) and answers
Introspect, Properties Get/GetAll/Set, ObjectManager GetManagedObjects on "/" and method
calls. Like bluetoothd it emits ObjectManager signals from "/" with every interface of the
object in one signal, and PropertiesChanged from the object's path. Unknown objects,
methods and signatures get the errors libdbus would send; a handler that fails never
takes the server down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import quoteattr

from dbus_fast import Message, MessageFlag, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.signature import get_signature_tree

logger = logging.getLogger(__name__)

PROPERTIES = "org.freedesktop.DBus.Properties"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
PEER = "org.freedesktop.DBus.Peer"
_STANDARD = (INTROSPECTABLE, PROPERTIES)


@dataclass(frozen=True)
class FdReply:
    """A method result that passes file descriptors (signature ``h`` args index ``fds``).

    The server closes its copies once the reply has been written.
    """

    body: list[Any]
    fds: list[int]


MethodHandler = Callable[[Message], Awaitable["list[Any] | FdReply"]]
PropertySetter = Callable[[Message, Variant], Awaitable[None]]


class DBusReplyError(Exception):
    """Raised by a handler: the caller receives this D-Bus error name and message."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        self.text = message
        super().__init__(f"{name}: {message}")


@dataclass(frozen=True)
class Method:
    """A method: input and output signatures and the coroutine that serves it."""

    in_sig: str
    out_sig: str
    handler: MethodHandler


@dataclass
class Interface:
    """An interface on an object: its properties, methods and writable properties."""

    props: dict[str, Variant] = field(default_factory=dict)
    methods: dict[str, Method] = field(default_factory=dict)
    setters: dict[str, PropertySetter] = field(default_factory=dict)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _args_xml(sig: str, direction: str) -> str:
    if not sig:
        return ""
    types = get_signature_tree(sig).types
    return "".join(f'<arg type="{t.signature}" direction="{direction}"/>' for t in types)


_STANDARD_XML = (
    f'<interface name="{INTROSPECTABLE}"><method name="Introspect">'
    '<arg type="s" direction="out"/></method></interface>'
    f'<interface name="{PROPERTIES}">'
    '<method name="Get"><arg type="s" direction="in"/><arg type="s" direction="in"/>'
    '<arg type="v" direction="out"/></method>'
    '<method name="Set"><arg type="s" direction="in"/><arg type="s" direction="in"/>'
    '<arg type="v" direction="in"/></method>'
    '<method name="GetAll"><arg type="s" direction="in"/>'
    '<arg type="a{sv}" direction="out"/></method>'
    '<signal name="PropertiesChanged"><arg type="s"/><arg type="a{sv}"/><arg type="as"/>'
    "</signal></interface>"
)
_OBJECT_MANAGER_XML = (
    f'<interface name="{OBJECT_MANAGER}"><method name="GetManagedObjects">'
    '<arg type="a{oa{sa{sv}}}" direction="out"/></method>'
    '<signal name="InterfacesAdded"><arg type="o"/><arg type="a{sa{sv}}"/></signal>'
    '<signal name="InterfacesRemoved"><arg type="o"/><arg type="as"/></signal></interface>'
)


class ObjectServer:
    """Serves a tree of objects on one connection; attach with :meth:`attach`."""

    def __init__(self, bus: MessageBus, manager_path: str = "/") -> None:
        """``manager_path``: where the ObjectManager lives (BlueZ: "/"; ModemManager:
        "/org/freedesktop/ModemManager1")."""
        self.bus = bus
        self.manager_path = manager_path
        self.objects: dict[str, dict[str, Interface]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self) -> None:
        """Start answering method calls that arrive on the connection."""
        self.bus.add_message_handler(self._on_message)

    # --- the tree --------------------------------------------------------------------

    def add(self, path: str, interfaces: dict[str, Interface]) -> None:
        """Add interfaces to ``path`` (creating it) and emit InterfacesAdded."""
        is_new = path not in self.objects
        self.objects.setdefault(path, {}).update(interfaces)
        body: dict[str, dict[str, Variant]] = {n: dict(i.props) for n, i in interfaces.items()}
        if is_new:
            body = {name: {} for name in _STANDARD} | body
        self._signal(
            self.manager_path, OBJECT_MANAGER, "InterfacesAdded", "oa{sa{sv}}", [path, body]
        )

    def remove(self, path: str) -> None:
        """Remove ``path`` with all its interfaces and emit InterfacesRemoved."""
        interfaces = self.objects.pop(path, None)
        if interfaces is not None:
            names = [*_STANDARD, *interfaces]
            self._signal(
                self.manager_path, OBJECT_MANAGER, "InterfacesRemoved", "oas", [path, names]
            )

    def remove_tree(self, prefix: str) -> None:
        """Remove every object under ``prefix`` (deepest first), then ``prefix`` itself."""
        for path in sorted(self.paths_under(prefix), key=len, reverse=True):
            self.remove(path)
        self.remove(prefix)

    def paths_under(self, prefix: str) -> list[str]:
        """Paths strictly below ``prefix``."""
        return [p for p in self.objects if p.startswith(prefix + "/")]

    def prop(self, path: str, interface: str, name: str) -> Any:
        """The unpacked value of a property (KeyError when absent)."""
        return self.objects[path][interface].props[name].value

    def update(
        self,
        path: str,
        interface: str,
        changed: dict[str, Variant],
        invalidated: Iterable[str] = (),
        force: bool = False,
    ) -> None:
        """Change properties and emit PropertiesChanged for those that really changed.

        ``force`` emits even an unchanged value (BlueZ signals every notification).
        """
        iface = self.objects.get(path, {}).get(interface)
        if iface is None:
            return
        really = {
            k: v
            for k, v in changed.items()
            if force or k not in iface.props or iface.props[k].value != v.value
        }
        gone = [k for k in invalidated if k in iface.props]
        iface.props.update(really)
        for key in gone:
            del iface.props[key]
        if really or gone:
            self._signal(
                path, PROPERTIES, "PropertiesChanged", "sa{sv}as", [interface, really, gone]
            )

    def _signal(self, path: str, interface: str, member: str, sig: str, body: list[Any]) -> None:
        if not self.bus.connected:
            return
        self.bus.send(Message.new_signal(path, interface, member, sig, body))

    # --- dispatch --------------------------------------------------------------------

    def _on_message(self, msg: Message) -> bool:
        if msg.message_type != MessageType.METHOD_CALL:
            return False
        task = asyncio.get_running_loop().create_task(self._serve(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _serve(self, msg: Message) -> None:
        fds: list[int] = []
        try:
            sig, result = await self._dispatch(msg)
            if isinstance(result, FdReply):
                body, fds = result.body, result.fds
            else:
                body = result
            reply = Message.new_method_return(msg, sig, body, fds)
        except DBusReplyError as err:
            reply = Message.new_error(msg, err.name, err.text)
        except Exception as err:  # a bug in a handler must not kill the fake
            logger.exception("handler for %s.%s at %s failed", msg.interface, msg.member, msg.path)
            reply = Message.new_error(msg, "org.bluez.Error.Failed", f"internal error: {err!r}")
        if msg.flags & MessageFlag.NO_REPLY_EXPECTED or not self.bus.connected:
            _close_all(fds)
            return
        sent = self.bus.send(reply)
        if fds:
            sent.add_done_callback(lambda _f: _close_all(fds))

    async def _dispatch(self, msg: Message) -> tuple[str, list[Any] | FdReply]:
        path = msg.path or "/"
        if msg.interface == INTROSPECTABLE and msg.member == "Introspect":
            return "s", [self._introspect(path)]
        if msg.interface == PEER and msg.member == "Ping":
            return "", []
        if (
            msg.interface == OBJECT_MANAGER
            and msg.member == "GetManagedObjects"
            and path == self.manager_path
        ):
            return "a{oa{sa{sv}}}", [self._managed_objects()]
        interfaces = self.objects.get(path)
        if interfaces is None:
            raise DBusReplyError(
                "org.freedesktop.DBus.Error.UnknownObject", f"Method call to unknown path {path}"
            )
        if msg.interface == PROPERTIES:
            return await self._properties(msg, interfaces)
        method = self._find_method(msg, interfaces)
        return method.out_sig, await method.handler(msg)

    def _find_method(self, msg: Message, interfaces: dict[str, Interface]) -> Method:
        candidates = (
            [interfaces[msg.interface]]
            if msg.interface in interfaces
            else ([] if msg.interface else list(interfaces.values()))
        )
        for iface in candidates:
            method = iface.methods.get(msg.member or "")
            if method is not None and method.in_sig == msg.signature:
                return method
        raise DBusReplyError(
            "org.freedesktop.DBus.Error.UnknownMethod",
            f'Method "{msg.member}" with signature "{msg.signature}" on interface '
            f'"{msg.interface}" doesn\'t exist',
        )

    async def _properties(
        self, msg: Message, interfaces: dict[str, Interface]
    ) -> tuple[str, list[Any]]:
        expected = {"Get": "ss", "GetAll": "s", "Set": "ssv"}
        if expected.get(msg.member or "") != msg.signature:
            raise DBusReplyError(
                "org.freedesktop.DBus.Error.InvalidArgs", "Invalid arguments in method call"
            )
        iface = interfaces.get(msg.body[0])
        if iface is None:
            raise DBusReplyError("org.freedesktop.DBus.Error.InvalidArgs", "No such interface")
        if msg.member == "GetAll":
            return "a{sv}", [dict(iface.props)]
        name = msg.body[1]
        if msg.member == "Get":
            if name not in iface.props:
                raise DBusReplyError("org.freedesktop.DBus.Error.InvalidArgs", "No such property")
            return "v", [iface.props[name]]
        setter = iface.setters.get(name)
        if setter is None:
            raise DBusReplyError(
                "org.freedesktop.DBus.Error.PropertyReadOnly", f"Property {name} is read-only"
            )
        await setter(msg, msg.body[2])
        return "", []

    def _managed_objects(self) -> dict[str, dict[str, dict[str, Variant]]]:
        return {
            path: {name: {} for name in _STANDARD}
            | {name: dict(i.props) for name, i in interfaces.items()}
            for path, interfaces in self.objects.items()
        }

    def _introspect(self, path: str) -> str:
        parts = ['<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"']
        parts.append(' "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">')
        parts.append(f"<node name={quoteattr(path)}>")
        parts.append(_STANDARD_XML)
        if path == self.manager_path:
            parts.append(_OBJECT_MANAGER_XML)
        for name, iface in self.objects.get(path, {}).items():
            parts.append(f"<interface name={quoteattr(name)}>")
            for member, method in iface.methods.items():
                parts.append(
                    f"<method name={quoteattr(member)}>{_args_xml(method.in_sig, 'in')}"
                    f"{_args_xml(method.out_sig, 'out')}</method>"
                )
            for prop, value in iface.props.items():
                access = "readwrite" if prop in iface.setters else "read"
                parts.append(
                    f"<property name={quoteattr(prop)} type={quoteattr(value.signature)} "
                    f"access={quoteattr(access)}/>"
                )
            parts.append("</interface>")
        prefix = path.rstrip("/") + "/"
        children = sorted(
            {p[len(prefix) :].split("/")[0] for p in self.objects if p.startswith(prefix)}
        )
        parts.extend(f"<node name={quoteattr(c)}/>" for c in children)
        parts.append("</node>")
        return "\n".join(parts)


async def call_remote(
    bus: MessageBus,
    destination: str,
    path: str,
    interface: str,
    member: str,
    signature: str = "",
    body: list[Any] | None = None,
    limit: float = 10.0,
) -> list[Any]:
    """Call a method on another connection; its error reply raises DBusReplyError."""
    msg = Message(
        destination=destination,
        path=path,
        interface=interface,
        member=member,
        signature=signature,
        body=body or [],
    )
    try:
        reply = await asyncio.wait_for(bus.call(msg), limit)
    except TimeoutError as err:
        raise DBusReplyError("org.freedesktop.DBus.Error.NoReply", "no reply") from err
    if reply is None:
        raise DBusReplyError("org.freedesktop.DBus.Error.Disconnected", "bus closed")
    if reply.message_type == MessageType.ERROR:
        text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
        raise DBusReplyError(reply.error_name or "org.freedesktop.DBus.Error.Failed", text)
    return list(reply.body)
