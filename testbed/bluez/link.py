"""One emulated LE connection: the central's view of the peripheral's GATT database.

The link mirrors every registered application's services under the central's device
object (``<device>/serviceXXXX/charYYYY/descZZZZ``, handles in hex, as BlueZ's
gatt-client.c names them) and carries each D-Bus operation across as the ATT PDUs BlueZ
would send, using the rules in :mod:`testbed.bluez.att`: Read + Read Blob loop, MTU-1
responses, 512-byte values, MTU-3 notifications, Prepare/Execute long writes, security
checks. Every PDU is counted; a fault can drop the link before the next request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dbus_fast import Message, Variant

from testbed.bluez import att
from testbed.bluez.att import OpKind, Security
from testbed.bluez.counters import AirCounters
from testbed.bluez.fd_channel import FdChannel
from testbed.bluez.gatt_model import (
    CCCD_UUID,
    GATT_CHARACTERISTIC,
    GATT_DESCRIPTOR,
    GATT_SERVICE,
    CharacteristicDef,
    DescriptorDef,
)
from testbed.bluez.objects import (
    DBusReplyError,
    FdReply,
    Interface,
    Method,
    ObjectServer,
    call_remote,
)
from testbed.bluez.peripheral_side import Application

logger = logging.getLogger(__name__)
ERR = "org.bluez.Error"


@dataclass
class Faults:
    """Injected faults and link settings, shared by all links (set via the control API)."""

    mtu: int = att.MIN_MTU
    drop_after: int | None = None
    refuse_next_connect: bool = False


@dataclass
class _Char:
    app: Application
    char: CharacteristicDef
    subscribers: set[str] = field(default_factory=set)
    write_channel: FdChannel | None = None
    notify_channel: FdChannel | None = None

    @property
    def notify_enabled(self) -> bool:
        """Whether the CCCD is on (a StartNotify session or an acquired notify socket)."""
        return bool(self.subscribers) or self.notify_channel is not None


def _raise(reply: att.DBusErrorReply) -> None:
    raise DBusReplyError(reply.name, reply.message)


def parse_options(options: Any, with_type: bool) -> tuple[int, str | None]:
    """gatt-client.c ``parse_options``: offset must be a q, type an s; others ignored."""
    if not isinstance(options, dict):
        raise DBusReplyError(f"{ERR}.InvalidArguments", "Invalid arguments in method call")
    offset, write_type = 0, None
    for key, value in options.items():
        if key.lower() == "offset":
            if not isinstance(value, Variant) or value.signature != "q":
                raise DBusReplyError(f"{ERR}.InvalidArguments", "Invalid arguments in method call")
            offset = int(value.value)
        elif with_type and key.lower() == "type":
            if not isinstance(value, Variant) or value.signature != "s":
                raise DBusReplyError(f"{ERR}.InvalidArguments", "Invalid arguments in method call")
            write_type = str(value.value).lower()
    return offset, write_type


class GattLink:
    """A live connection from the central (hci1) to the peripheral (hci0)."""

    def __init__(
        self,
        central: ObjectServer,
        peripheral: ObjectServer,
        device_path: str,
        peer_path: str,
        apps: list[Application],
        counters: AirCounters,
        faults: Faults,
        security: Security,
        on_drop: Callable[[GattLink], None],
    ) -> None:
        self.central = central
        self.peripheral = peripheral
        self.device_path = device_path
        self.peer_path = peer_path
        self.apps = apps
        self.counters = counters
        self.faults = faults
        self.mtu = faults.mtu
        self.security = security
        self.alive = True
        self._on_drop = on_drop
        self.chars: dict[str, _Char] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.descs: dict[str, tuple[DescriptorDef, _Char]] = {}

    # --- the mirrored database ---------------------------------------------------------

    def export(self) -> None:
        """Create the service, characteristic and descriptor objects on the central bus."""
        for app in self.apps:
            for service in app.services:
                spath = f"{self.device_path}/service{service.handle:04x}"
                self.central.add(spath, {GATT_SERVICE: self._service_iface(service, spath)})
                for char in service.characteristics:
                    cpath = f"{spath}/char{char.handle:04x}"
                    entry = _Char(app, char)
                    self.chars[cpath] = entry
                    self.central.add(cpath, {GATT_CHARACTERISTIC: self._char_iface(char, spath)})
                    for desc in char.descriptors:
                        dpath = f"{cpath}/desc{desc.handle:04x}"
                        self.descs[dpath] = (desc, entry)
                        self.central.add(dpath, {GATT_DESCRIPTOR: self._desc_iface(desc, cpath)})

    def _service_iface(self, service: Any, spath: str) -> Interface:
        return Interface(
            props={
                "UUID": Variant("s", service.uuid),
                "Device": Variant("o", self.device_path),
                "Primary": Variant("b", service.primary),
                "Includes": Variant("ao", []),
                "Handle": Variant("q", service.handle),
            }
        )

    def _char_iface(self, char: CharacteristicDef, spath: str) -> Interface:
        props = {
            "UUID": Variant("s", char.uuid),
            "Service": Variant("o", spath),
            "Value": Variant("ay", b""),
            "Flags": Variant("as", list(char.flags)),
            "Handle": Variant("q", char.handle + 1),
            "MTU": Variant("q", self.mtu),
        }
        if char.can_notify:
            props["Notifying"] = Variant("b", False)
            props["NotifyAcquired"] = Variant("b", False)
        if "write-without-response" in char.flags:
            props["WriteAcquired"] = Variant("b", False)
        return Interface(
            props=props,
            methods={
                "ReadValue": Method("a{sv}", "ay", self.read_char),
                "WriteValue": Method("aya{sv}", "", self.write_char),
                "StartNotify": Method("", "", self.start_notify),
                "StopNotify": Method("", "", self.stop_notify),
                "AcquireWrite": Method("a{sv}", "hq", self.acquire_write),
                "AcquireNotify": Method("a{sv}", "hq", self.acquire_notify),
            },
        )

    def _desc_iface(self, desc: DescriptorDef, cpath: str) -> Interface:
        return Interface(
            props={
                "UUID": Variant("s", desc.uuid),
                "Characteristic": Variant("o", cpath),
                "Value": Variant("ay", b""),
                "Handle": Variant("q", desc.handle),
            },
            methods={
                "ReadValue": Method("a{sv}", "ay", self.read_desc),
                "WriteValue": Method("aya{sv}", "", self.write_desc),
            },
        )

    def unexport(self) -> None:
        """Remove the mirrored objects (deepest first, as bluetoothd does)."""
        for path in sorted([*self.descs, *self.chars], key=len, reverse=True):
            self.central.remove(path)
        for path in sorted(self.central.paths_under(self.device_path), key=len, reverse=True):
            self.central.remove(path)

    # --- the air -----------------------------------------------------------------------

    def _request(self, kind: OpKind, pdu_len: int) -> None:
        """Send one ATT request/command, or drop the link if a fault says so."""
        if not self.alive:
            raise DBusReplyError(f"{ERR}.Failed", "Not connected")
        if self.faults.drop_after is not None:
            if self.faults.drop_after <= 0:
                self.faults.drop_after = None
                logger.info("fault: dropping link %s before a %s", self.device_path, kind.value)
                self.drop()
                _raise(att.att_to_client_error(att.ATT_UNLIKELY))
            else:
                self.faults.drop_after -= 1
        self.counters.record(kind, "c2p", pdu_len)

    def _respond(self, kind: OpKind, pdu_len: int) -> None:
        if not self.alive:  # the link went away while the application was answering
            _raise(att.att_to_client_error(att.ATT_UNLIKELY))
        self.counters.record(kind, "p2c", pdu_len)

    def drop(self) -> None:
        """The link is lost (supervision timeout): tell the owner once."""
        if self.alive:
            self.alive = False
            self._on_drop(self)

    def _options(self, offset: int) -> dict[str, Variant]:
        """gatt-database.c ``append_options``: device, offset (if non-zero), link, mtu."""
        options = {"device": Variant("o", self.peer_path)}
        if offset:
            options["offset"] = Variant("q", offset)
        options["link"] = Variant("s", "LE")
        options["mtu"] = Variant("q", self.mtu)
        return options

    async def _app_call(
        self, app: Application, path: str, iface: str, member: str, sig: str, body: list[Any]
    ) -> list[Any]:
        return await call_remote(self.peripheral.bus, app.sender, path, iface, member, sig, body)

    async def _read_long(self, entry: _Char, desc: DescriptorDef | None, start: int) -> bytes:
        flags = entry.char.flags if desc is None else (desc.flags or ["read"])
        received = b""
        offset = start
        while True:
            kind = OpKind.READ if offset == 0 else OpKind.READ_BLOB
            self._request(kind, att.READ_REQ_LEN if offset == 0 else att.READ_BLOB_REQ_LEN)
            ecode = att.access_error(flags, False, self.security)
            value = b""
            if not ecode:
                try:
                    value = await self._app_read(entry, desc, offset)
                except DBusReplyError as err:
                    ecode = att.app_error_to_att(err.name, err.text, att.ATT_READ_NOT_PERMITTED)
            if ecode:
                self._respond(kind, att.ERROR_RSP_LEN)
                _raise(att.att_to_client_error(ecode))
            chunk = att.server_read_response(value, self.mtu)
            self._respond(kind, att.READ_RSP_HEADER + len(chunk))
            received = att.client_append(received, chunk, start)
            offset = start + len(received)
            if not att.client_wants_more(len(chunk), offset, self.mtu):
                return received

    async def _app_read(self, entry: _Char, desc: DescriptorDef | None, offset: int) -> bytes:
        if desc is not None and desc.app_path is None:  # BlueZ's own CCCD
            enabled = bool(entry.subscribers)
            return (b"\x01\x00" if enabled else b"\x00\x00")[offset:]
        path = entry.char.app_path if desc is None else str(desc.app_path)
        iface = GATT_CHARACTERISTIC if desc is None else GATT_DESCRIPTOR
        reply = await self._app_call(
            entry.app, path, iface, "ReadValue", "a{sv}", [self._options(offset)]
        )
        if not reply or not isinstance(reply[0], bytes | bytearray):
            raise DBusReplyError(f"{ERR}.NotSupported", "invalid ReadValue reply")
        return bytes(reply[0])

    async def read_char(self, msg: Message) -> list[Any]:
        """GattCharacteristic1.ReadValue: the Read Blob loop, then update Value."""
        entry = self._entry(msg)
        offset, _ = parse_options(msg.body[0], with_type=False)
        value = await self._read_long(entry, None, offset)
        self.central.update(str(msg.path), GATT_CHARACTERISTIC, {"Value": Variant("ay", value)})
        return [value]

    async def read_desc(self, msg: Message) -> list[Any]:
        """GattDescriptor1.ReadValue, carried the same way."""
        desc, entry = self._desc_entry(msg)
        offset, _ = parse_options(msg.body[0], with_type=False)
        value = await self._read_long(entry, desc, offset)
        self.central.update(str(msg.path), GATT_DESCRIPTOR, {"Value": Variant("ay", value)})
        return [value]

    async def write_char(self, msg: Message) -> list[Any]:
        """GattCharacteristic1.WriteValue with the procedure BlueZ's client would pick."""
        entry = self._entry(msg)
        if entry.write_channel is not None:
            raise DBusReplyError(f"{ERR}.NotPermitted", "Write acquired")
        value = bytes(msg.body[0])
        offset, write_type = parse_options(msg.body[1], with_type=True)
        procedure = att.choose_write(entry.char.flags, len(value), offset, write_type, self.mtu)
        if isinstance(procedure, att.DBusErrorReply):
            _raise(procedure)
        if procedure is att.WriteProcedure.COMMAND:
            await self._write_command(entry, value)
        elif procedure is att.WriteProcedure.REQUEST:
            await self._write_request(entry, value)
        else:
            await self._long_write(entry, value, offset)
        return []

    async def _app_write(
        self, entry: _Char, desc: DescriptorDef | None, value: bytes, offset: int
    ) -> int:
        """Deliver a write to the application; 0 or the ATT error its reply maps to."""
        path = entry.char.app_path if desc is None else str(desc.app_path)
        iface = GATT_CHARACTERISTIC if desc is None else GATT_DESCRIPTOR
        try:
            await self._app_call(
                entry.app, path, iface, "WriteValue", "aya{sv}", [value, self._options(offset)]
            )
        except DBusReplyError as err:
            return att.app_error_to_att(err.name, err.text, att.ATT_WRITE_NOT_PERMITTED)
        return 0

    async def _write_command(self, entry: _Char, value: bytes) -> None:
        self._request(OpKind.WRITE_CMD, att.WRITE_REQ_HEADER + len(value))
        # gatt-server.c write_cb: a refused Write Command is dropped without an answer.
        ecode = att.check_length(len(value), 0) or att.access_error(
            entry.char.flags, True, self.security
        )
        if ecode:
            logger.info("write command dropped by the server: ATT error 0x%02x", ecode)
            return
        ecode = await self._app_write(entry, None, value, 0)
        if ecode:
            logger.info("write command refused by the application: 0x%02x", ecode)

    async def _write_request(
        self, entry: _Char, value: bytes, desc: DescriptorDef | None = None
    ) -> None:
        self._request(OpKind.WRITE_REQ, att.WRITE_REQ_HEADER + len(value))
        flags = entry.char.flags if desc is None else (desc.flags or ["write"])
        ecode = att.check_length(len(value), 0) or att.access_error(flags, True, self.security)
        if not ecode:
            ecode = await self._app_write(entry, desc, value, 0)
        self._respond(OpKind.WRITE_REQ, att.ERROR_RSP_LEN if ecode else att.WRITE_RSP_LEN)
        if ecode:
            _raise(att.att_to_client_error(ecode))

    async def _long_write(self, entry: _Char, value: bytes, offset: int) -> None:
        for chunk_offset, chunk in att.prepare_chunks(value, offset, self.mtu):
            self._request(OpKind.PREPARE_WRITE, att.PREPARE_HEADER + len(chunk))
            ecode = att.access_error(entry.char.flags, True, self.security) or att.check_length(
                len(chunk), chunk_offset
            )
            if ecode:
                self._respond(OpKind.PREPARE_WRITE, att.ERROR_RSP_LEN)
                # The client cancels the queued writes with Execute Write (flags 0x00).
                self._request(OpKind.EXECUTE_WRITE, att.EXECUTE_REQ_LEN)
                self._respond(OpKind.EXECUTE_WRITE, att.EXECUTE_RSP_LEN)
                _raise(att.att_to_client_error(ecode))
            self._respond(OpKind.PREPARE_WRITE, att.PREPARE_HEADER + len(chunk))
        self._request(OpKind.EXECUTE_WRITE, att.EXECUTE_REQ_LEN)
        # gatt-server.c merges contiguous prepared writes into one write to the app.
        ecode = await self._app_write(entry, None, value, offset)
        self._respond(OpKind.EXECUTE_WRITE, att.ERROR_RSP_LEN if ecode else att.EXECUTE_RSP_LEN)
        if ecode:
            _raise(att.att_to_client_error(ecode))

    async def write_desc(self, msg: Message) -> list[Any]:
        """GattDescriptor1.WriteValue: a Write Request; the CCCD is BlueZ's own."""
        desc, entry = self._desc_entry(msg)
        parse_options(msg.body[1], with_type=False)
        if desc.uuid == CCCD_UUID:
            raise DBusReplyError(f"{ERR}.NotPermitted", "Write not permitted")
        await self._write_request(entry, bytes(msg.body[0]), desc)
        return []

    # --- notifications -----------------------------------------------------------------

    async def start_notify(self, msg: Message) -> list[Any]:
        """StartNotify: write the CCCD, then the server calls the app's StartNotify."""
        entry = self._entry(msg)
        if not entry.char.can_notify:
            raise DBusReplyError(f"{ERR}.NotSupported", "Operation is not supported")
        if entry.notify_channel is not None:
            raise DBusReplyError(f"{ERR}.NotPermitted", "Notify acquired")
        sender = str(msg.sender)
        if sender in entry.subscribers:
            return []
        first = not entry.notify_enabled
        if first:
            self._write_cccd(True)
        entry.subscribers.add(sender)
        if first:
            await self._app_notify_call(entry, "StartNotify")
        self.central.update(str(msg.path), GATT_CHARACTERISTIC, {"Notifying": Variant("b", True)})
        return []

    async def stop_notify(self, msg: Message) -> list[Any]:
        """StopNotify: only the sender's own session; the last one clears the CCCD."""
        entry = self._entry(msg)
        sender = str(msg.sender)
        if sender not in entry.subscribers:
            raise DBusReplyError(f"{ERR}.Failed", "No notify session started")
        await self._unsubscribe(entry, str(msg.path), sender)
        return []

    def _write_cccd(self, enable: bool) -> None:
        """One Write Request of 2 bytes to the CCCD (Core Vol 3 Part G 3.3.3.3)."""
        self._request(OpKind.CCCD_WRITE, att.WRITE_REQ_HEADER + 2)
        self._respond(OpKind.CCCD_WRITE, att.WRITE_RSP_LEN)

    async def _unsubscribe(self, entry: _Char, path: str, sender: str) -> None:
        entry.subscribers.discard(sender)
        if entry.notify_enabled:
            return
        if self.alive:
            self._write_cccd(False)
            self.central.update(path, GATT_CHARACTERISTIC, {"Notifying": Variant("b", False)})
        await self._app_notify_call(entry, "StopNotify")

    # --- acquired sockets --------------------------------------------------------------

    async def acquire_write(self, msg: Message) -> FdReply:
        """AcquireWrite: a socket whose packets are Write Commands; returns (fd, MTU)."""
        entry = self._entry(msg)
        parse_options(msg.body[0], with_type=False)
        if "write-without-response" not in entry.char.flags:
            raise DBusReplyError(f"{ERR}.NotSupported", "Operation is not supported")
        if entry.write_channel is not None:
            raise DBusReplyError(f"{ERR}.NotPermitted", "Write acquired")
        path = str(msg.path)

        async def on_packet(data: bytes) -> None:
            if len(data) > self.mtu - att.WRITE_REQ_HEADER:
                logger.warning("acquired write of %d bytes exceeds MTU-3: dropped", len(data))
                return
            try:
                await self._write_command(entry, data)
            except DBusReplyError as err:
                logger.info("acquired write failed: %s", err)

        def on_close() -> None:
            entry.write_channel = None
            self.central.update(path, GATT_CHARACTERISTIC, {"WriteAcquired": Variant("b", False)})

        entry.write_channel = FdChannel(on_packet, on_close)
        fd = entry.write_channel.open()
        self.central.update(path, GATT_CHARACTERISTIC, {"WriteAcquired": Variant("b", True)})
        return FdReply([0, self.mtu], [fd])

    async def acquire_notify(self, msg: Message) -> FdReply:
        """AcquireNotify: notifications arrive as packets on a socket; returns (fd, MTU)."""
        entry = self._entry(msg)
        parse_options(msg.body[0], with_type=False)
        if not entry.char.can_notify:
            raise DBusReplyError(f"{ERR}.NotSupported", "Operation is not supported")
        if entry.notify_channel is not None:
            raise DBusReplyError(f"{ERR}.NotPermitted", "Notify acquired")
        if entry.subscribers:
            raise DBusReplyError(f"{ERR}.InProgress", "Notify already started")
        path = str(msg.path)

        def on_close() -> None:
            if entry.notify_channel is not channel:  # already released with the link
                return
            entry.notify_channel = None
            self.central.update(path, GATT_CHARACTERISTIC, {"NotifyAcquired": Variant("b", False)})
            if self.alive:
                self._write_cccd(False)
            task = asyncio.get_running_loop().create_task(
                self._app_notify_call(entry, "StopNotify")
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self._write_cccd(True)
        channel = FdChannel(None, on_close)
        entry.notify_channel = channel
        fd = channel.open()
        await self._app_notify_call(entry, "StartNotify")
        self.central.update(path, GATT_CHARACTERISTIC, {"NotifyAcquired": Variant("b", True)})
        return FdReply([0, self.mtu], [fd])

    async def _app_notify_call(self, entry: _Char, member: str) -> None:
        try:
            await self._app_call(
                entry.app, entry.char.app_path, GATT_CHARACTERISTIC, member, "", []
            )
        except DBusReplyError as err:  # bluetoothd logs and carries on
            logger.warning("application %s failed: %s", member, err)

    async def forget_sender(self, sender: str) -> None:
        """A central-side client left the bus: end its notify sessions."""
        for path, entry in list(self.chars.items()):
            if sender in entry.subscribers:
                await self._unsubscribe(entry, path, sender)

    async def release_notify(self) -> None:
        """After the link is gone: close acquired sockets, clear CCCDs, stop app notify."""
        for entry in self.chars.values():
            if entry.write_channel is not None:
                entry.write_channel.close()
            was_enabled = entry.notify_enabled
            channel, entry.notify_channel = entry.notify_channel, None
            if channel is not None:
                channel.close()
            entry.subscribers.clear()
            if was_enabled:
                await self._app_notify_call(entry, "StopNotify")

    def on_app_value(self, sender: str, app_path: str, value: bytes) -> None:
        """The application changed a Value: notify it if the central subscribed."""
        for path, entry in self.chars.items():
            if entry.app.sender != sender or entry.char.app_path != app_path:
                continue
            if not entry.notify_enabled or not self.alive:
                continue
            payload = att.notification_payload(value, self.mtu)
            self.counters.record(OpKind.NOTIFICATION, "p2c", att.NOTIFICATION_HEADER + len(payload))
            if entry.notify_channel is not None:  # the Value property is not updated then
                entry.notify_channel.send(payload)
                continue
            self.central.update(
                path, GATT_CHARACTERISTIC, {"Value": Variant("ay", payload)}, force=True
            )

    # --- lookups -----------------------------------------------------------------------

    def _entry(self, msg: Message) -> _Char:
        entry = self.chars.get(str(msg.path))
        if entry is None or not self.alive:
            raise DBusReplyError(f"{ERR}.Failed", "Not connected")
        return entry

    def _desc_entry(self, msg: Message) -> tuple[DescriptorDef, _Char]:
        found = self.descs.get(str(msg.path))
        if found is None or not self.alive:
            raise DBusReplyError(f"{ERR}.Failed", "Not connected")
        return found
