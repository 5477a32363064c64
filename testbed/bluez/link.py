"""One emulated LE connection: the central's view of the peripheral's GATT database.

The link mirrors every registered application's services under the central's device
object (``<device>/serviceXXXX/charYYYY/descZZZZ``, handles in hex, as BlueZ's
gatt-client.c names them) and carries each D-Bus operation across as the ATT PDUs BlueZ
would send, using the rules in :mod:`endorse_ble.testbed.bluez.att`: Read + Read Blob loop, MTU-1
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

from endorse_ble.testbed.bluez import att
from endorse_ble.testbed.bluez.att import OpKind, Security
from endorse_ble.testbed.bluez.counters import AirCounters
from endorse_ble.testbed.bluez.gatt_model import (
    CCCD_UUID,
    GATT_CHARACTERISTIC,
    GATT_DESCRIPTOR,
    GATT_SERVICE,
    DescriptorDef,
)
from endorse_ble.testbed.bluez.mirror import (
    CharHandlers,
    MirroredChar,
    characteristic_interface,
    descriptor_interface,
    parse_options,
    raise_reply,
    service_interface,
)
from endorse_ble.testbed.bluez.notify_sessions import NotifySessions
from endorse_ble.testbed.bluez.objects import DBusReplyError, ObjectServer, call_remote
from endorse_ble.testbed.bluez.peripheral_side import Application

logger = logging.getLogger(__name__)
ERR = "org.bluez.Error"


@dataclass
class Faults:
    """Injected faults and link settings, shared by all links (set via the control API)."""

    mtu: int = att.MIN_MTU
    #: BlueZ gives up on an ATT transaction without a response after 30 s and the link is
    #: unusable from then on; tests make it shorter.
    att_timeout: float = 30.0
    drop_after: int | None = None
    refuse_next_connect: bool = False
    # Hold the next read after this many more ATT reads until resumed: lets a test change
    # the peripheral's state between two requests of one long read.
    pause_after: int | None = None
    paused: asyncio.Event = field(default_factory=asyncio.Event)
    resume: asyncio.Event = field(default_factory=asyncio.Event)

    async def gate_read(self) -> bool:
        """Wait here if a pause fault is due (see ``pause_after``); False when the held
        request went unanswered for ``att_timeout`` (the transaction timed out)."""
        if self.pause_after is None:
            return True
        if self.pause_after > 0:
            self.pause_after -= 1
            return True
        self.pause_after = None
        self.paused.set()
        try:
            await asyncio.wait_for(self.resume.wait(), self.att_timeout)
        except TimeoutError:
            return False
        return True


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
        self.chars: dict[str, MirroredChar] = {}
        self.notify = NotifySessions(self)
        self.descs: dict[str, tuple[DescriptorDef, MirroredChar]] = {}

    # --- the mirrored database ---------------------------------------------------------

    def export(self) -> None:
        """Create the service, characteristic and descriptor objects on the central bus."""
        handlers = CharHandlers(
            read=self.read_char,
            write=self.write_char,
            start_notify=self.notify.start_notify,
            stop_notify=self.notify.stop_notify,
            acquire_write=self.notify.acquire_write,
            acquire_notify=self.notify.acquire_notify,
        )
        for app in self.apps:
            for service in app.services:
                spath = f"{self.device_path}/service{service.handle:04x}"
                siface = service_interface(service, self.device_path)
                self.central.add(spath, {GATT_SERVICE: siface})
                for char in service.characteristics:
                    cpath = f"{spath}/char{char.handle:04x}"
                    entry = MirroredChar(app, char)
                    self.chars[cpath] = entry
                    ciface = characteristic_interface(char, spath, self.mtu, handlers)
                    self.central.add(cpath, {GATT_CHARACTERISTIC: ciface})
                    for desc in char.descriptors:
                        dpath = f"{cpath}/desc{desc.handle:04x}"
                        self.descs[dpath] = (desc, entry)
                        diface = descriptor_interface(desc, cpath, self.read_desc, self.write_desc)
                        self.central.add(dpath, {GATT_DESCRIPTOR: diface})

    def unexport(self) -> None:
        """Remove the mirrored objects (deepest first, as bluetoothd does)."""
        for path in sorted([*self.descs, *self.chars], key=len, reverse=True):
            self.central.remove(path)
        for path in sorted(self.central.paths_under(self.device_path), key=len, reverse=True):
            self.central.remove(path)

    # --- the air -----------------------------------------------------------------------

    def request(self, kind: OpKind, pdu_len: int) -> None:
        """Send one ATT request/command, or drop the link if a fault says so."""
        if not self.alive:
            raise DBusReplyError(f"{ERR}.Failed", "Not connected")
        if self.faults.drop_after is not None:
            if self.faults.drop_after <= 0:
                self.faults.drop_after = None
                logger.info("fault: dropping link %s before a %s", self.device_path, kind.value)
                self.drop()
                raise_reply(att.att_to_client_error(att.ATT_UNLIKELY))
            else:
                self.faults.drop_after -= 1
        self.counters.record(kind, "c2p", pdu_len)

    def respond(self, kind: OpKind, pdu_len: int) -> None:
        if not self.alive:  # the link went away while the application was answering
            raise_reply(att.att_to_client_error(att.ATT_UNLIKELY))
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

    async def app_call(
        self, app: Application, path: str, iface: str, member: str, sig: str, body: list[Any]
    ) -> list[Any]:
        return await call_remote(self.peripheral.bus, app.sender, path, iface, member, sig, body)

    async def _read_long(
        self, entry: MirroredChar, desc: DescriptorDef | None, start: int
    ) -> bytes:
        flags = entry.char.flags if desc is None else (desc.flags or ["read"])
        received = b""
        offset = start
        while True:
            kind = OpKind.READ if offset == 0 else OpKind.READ_BLOB
            self.request(kind, att.READ_REQ_LEN if offset == 0 else att.READ_BLOB_REQ_LEN)
            if not await self.faults.gate_read():
                # att.c timeout_cb: the transaction timed out; BlueZ drops the link.
                logger.info(
                    "ATT %s timed out on %s: dropping the link", kind.value, self.device_path
                )
                self.drop()
                raise_reply(att.att_to_client_error(att.ATT_UNLIKELY))
            ecode = att.access_error(flags, False, self.security)
            value = b""
            if not ecode:
                try:
                    value = await self._app_read(entry, desc, offset)
                except DBusReplyError as err:
                    ecode = att.app_error_to_att(err.name, err.text, att.ATT_READ_NOT_PERMITTED)
            if ecode:
                self.respond(kind, att.ERROR_RSP_LEN)
                raise_reply(att.att_to_client_error(ecode))
            chunk = att.server_read_response(value, self.mtu)
            self.respond(kind, att.READ_RSP_HEADER + len(chunk))
            received = att.client_append(received, chunk, start)
            offset = start + len(received)
            if not att.client_wants_more(len(chunk), offset, self.mtu):
                return received

    async def _app_read(
        self, entry: MirroredChar, desc: DescriptorDef | None, offset: int
    ) -> bytes:
        if desc is not None and desc.app_path is None:  # BlueZ's own CCCD
            enabled = bool(entry.subscribers)
            return (b"\x01\x00" if enabled else b"\x00\x00")[offset:]
        path = entry.char.app_path if desc is None else str(desc.app_path)
        iface = GATT_CHARACTERISTIC if desc is None else GATT_DESCRIPTOR
        reply = await self.app_call(
            entry.app, path, iface, "ReadValue", "a{sv}", [self._options(offset)]
        )
        if not reply or not isinstance(reply[0], bytes | bytearray):
            raise DBusReplyError(f"{ERR}.NotSupported", "invalid ReadValue reply")
        return bytes(reply[0])

    async def read_char(self, msg: Message) -> list[Any]:
        """GattCharacteristic1.ReadValue: the Read Blob loop, then update Value."""
        entry = self.entry_for(msg)
        offset, _ = parse_options(msg.body[0], with_type=False)
        # gatt-client.c: a read already in flight is shared by callers asking for the same
        # offset; another offset gets InProgress (bleak then retries).
        pending = entry.read_in_flight
        if pending is not None:
            if pending[0] != offset:
                raise DBusReplyError(f"{ERR}.InProgress", "In Progress")
            return [await asyncio.shield(pending[1])]
        task = asyncio.get_running_loop().create_task(self._read_long(entry, None, offset))
        entry.read_in_flight = (offset, task)
        try:
            value = await asyncio.shield(task)
        finally:
            entry.read_in_flight = None
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
        entry = self.entry_for(msg)
        if entry.write_channel is not None:
            raise DBusReplyError(f"{ERR}.NotPermitted", "Write acquired")
        if entry.writing:
            raise DBusReplyError(f"{ERR}.InProgress", "In Progress")
        entry.writing = True
        try:
            return await self._write_char(entry, msg)
        finally:
            entry.writing = False

    async def _write_char(self, entry: MirroredChar, msg: Message) -> list[Any]:
        value = bytes(msg.body[0])
        offset, write_type = parse_options(msg.body[1], with_type=True)
        procedure = att.choose_write(entry.char.flags, len(value), offset, write_type, self.mtu)
        if isinstance(procedure, att.DBusErrorReply):
            raise_reply(procedure)
        if procedure is att.WriteProcedure.COMMAND:
            await self.write_command(entry, value)
        elif procedure is att.WriteProcedure.REQUEST:
            await self._write_request(entry, value)
        else:
            await self._long_write(entry, value, offset)
        return []

    async def _app_write(
        self, entry: MirroredChar, desc: DescriptorDef | None, value: bytes, offset: int
    ) -> int:
        """Deliver a write to the application; 0 or the ATT error its reply maps to."""
        path = entry.char.app_path if desc is None else str(desc.app_path)
        iface = GATT_CHARACTERISTIC if desc is None else GATT_DESCRIPTOR
        try:
            await self.app_call(
                entry.app, path, iface, "WriteValue", "aya{sv}", [value, self._options(offset)]
            )
        except DBusReplyError as err:
            return att.app_error_to_att(err.name, err.text, att.ATT_WRITE_NOT_PERMITTED)
        return 0

    async def write_command(self, entry: MirroredChar, value: bytes) -> None:
        self.request(OpKind.WRITE_CMD, att.WRITE_REQ_HEADER + len(value))
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
        self, entry: MirroredChar, value: bytes, desc: DescriptorDef | None = None
    ) -> None:
        self.request(OpKind.WRITE_REQ, att.WRITE_REQ_HEADER + len(value))
        flags = entry.char.flags if desc is None else (desc.flags or ["write"])
        ecode = att.check_length(len(value), 0) or att.access_error(flags, True, self.security)
        if not ecode:
            ecode = await self._app_write(entry, desc, value, 0)
        self.respond(OpKind.WRITE_REQ, att.ERROR_RSP_LEN if ecode else att.WRITE_RSP_LEN)
        if ecode:
            raise_reply(att.att_to_client_error(ecode))

    async def _long_write(self, entry: MirroredChar, value: bytes, offset: int) -> None:
        for chunk_offset, chunk in att.prepare_chunks(value, offset, self.mtu):
            self.request(OpKind.PREPARE_WRITE, att.PREPARE_HEADER + len(chunk))
            ecode = att.access_error(entry.char.flags, True, self.security) or att.check_length(
                len(chunk), chunk_offset
            )
            if ecode:
                self.respond(OpKind.PREPARE_WRITE, att.ERROR_RSP_LEN)
                # The client cancels the queued writes with Execute Write (flags 0x00).
                self.request(OpKind.EXECUTE_WRITE, att.EXECUTE_REQ_LEN)
                self.respond(OpKind.EXECUTE_WRITE, att.EXECUTE_RSP_LEN)
                raise_reply(att.att_to_client_error(ecode))
            self.respond(OpKind.PREPARE_WRITE, att.PREPARE_HEADER + len(chunk))
        self.request(OpKind.EXECUTE_WRITE, att.EXECUTE_REQ_LEN)
        # gatt-server.c merges contiguous prepared writes into one write to the app.
        ecode = await self._app_write(entry, None, value, offset)
        self.respond(OpKind.EXECUTE_WRITE, att.ERROR_RSP_LEN if ecode else att.EXECUTE_RSP_LEN)
        if ecode:
            raise_reply(att.att_to_client_error(ecode))

    async def write_desc(self, msg: Message) -> list[Any]:
        """GattDescriptor1.WriteValue: a Write Request; the CCCD is BlueZ's own."""
        desc, entry = self._desc_entry(msg)
        parse_options(msg.body[1], with_type=False)
        if desc.uuid == CCCD_UUID:
            raise DBusReplyError(f"{ERR}.NotPermitted", "Write not permitted")
        await self._write_request(entry, bytes(msg.body[0]), desc)
        return []

    # --- lookups -----------------------------------------------------------------------

    def entry_for(self, msg: Message) -> MirroredChar:
        entry = self.chars.get(str(msg.path))
        if entry is None or not self.alive:
            raise DBusReplyError(f"{ERR}.Failed", "Not connected")
        return entry

    def _desc_entry(self, msg: Message) -> tuple[DescriptorDef, MirroredChar]:
        found = self.descs.get(str(msg.path))
        if found is None or not self.alive:
            raise DBusReplyError(f"{ERR}.Failed", "Not connected")
        return found
