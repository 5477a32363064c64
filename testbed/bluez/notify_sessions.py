"""Notification sessions on a link: StartNotify/StopNotify per client, AcquireWrite and
AcquireNotify sockets, and forwarding of the application's Value changes.

BlueZ (gatt-client.c): each D-Bus client has at most one notify session per
characteristic; the first enables the CCCD on the peer (one Write Request), the last
disables it. On the peer, the server calls the application's StartNotify/StopNotify, and
sends a notification of at most MTU-3 bytes for each Value change while the CCCD is on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from dbus_fast import Message, Variant

from endorse_ble.testbed.bluez import att
from endorse_ble.testbed.bluez.att import OpKind
from endorse_ble.testbed.bluez.fd_channel import FdChannel
from endorse_ble.testbed.bluez.gatt_model import GATT_CHARACTERISTIC
from endorse_ble.testbed.bluez.mirror import MirroredChar, parse_options, raise_reply
from endorse_ble.testbed.bluez.objects import DBusReplyError, FdReply

if TYPE_CHECKING:
    from endorse_ble.testbed.bluez.link import GattLink

logger = logging.getLogger(__name__)
ERR = "org.bluez.Error"


class NotifySessions:
    """The notify and acquired-socket state of one :class:`GattLink`."""

    def __init__(self, link: GattLink) -> None:
        self._link = link
        self._tasks: set[asyncio.Task[None]] = set()

    async def start_notify(self, msg: Message) -> list[Any]:
        """StartNotify: write the CCCD, then the server calls the app's StartNotify."""
        entry = self._link.entry_for(msg)
        if not entry.char.can_notify:
            raise DBusReplyError(f"{ERR}.NotSupported", "Operation is not supported")
        if entry.notify_channel is not None:
            raise DBusReplyError(f"{ERR}.NotPermitted", "Notify acquired")
        sender = str(msg.sender)
        if sender in entry.subscribers:
            return []
        first = not entry.notify_enabled
        if first:
            self._write_cccd(True, att.subscribe_error(entry.char.flags, self._link.security))
        entry.subscribers.add(sender)
        if first:
            await self._app_notify_call(entry, "StartNotify")
        self._link.central.update(
            str(msg.path), GATT_CHARACTERISTIC, {"Notifying": Variant("b", True)}
        )
        return []

    async def stop_notify(self, msg: Message) -> list[Any]:
        """StopNotify: only the sender's own session; the last one clears the CCCD."""
        entry = self._link.entry_for(msg)
        sender = str(msg.sender)
        if sender not in entry.subscribers:
            raise DBusReplyError(f"{ERR}.Failed", "No notify session started")
        await self._unsubscribe(entry, str(msg.path), sender)
        return []

    def _write_cccd(self, enable: bool, ecode: int = 0) -> None:
        """One Write Request of 2 bytes to the CCCD (Core Vol 3 Part G 3.3.3.3); the
        server refuses it with ``ecode`` (a ``*-notify`` flag the link's security misses)."""
        self._link.request(OpKind.CCCD_WRITE, att.WRITE_REQ_HEADER + 2)
        self._link.respond(OpKind.CCCD_WRITE, att.ERROR_RSP_LEN if ecode else att.WRITE_RSP_LEN)
        if ecode:
            raise_reply(att.att_to_client_error(ecode))

    async def _unsubscribe(self, entry: MirroredChar, path: str, sender: str) -> None:
        entry.subscribers.discard(sender)
        if entry.notify_enabled:
            return
        if self._link.alive:
            self._write_cccd(False)
            self._link.central.update(path, GATT_CHARACTERISTIC, {"Notifying": Variant("b", False)})
        await self._app_notify_call(entry, "StopNotify")

    # --- acquired sockets --------------------------------------------------------------

    async def acquire_write(self, msg: Message) -> FdReply:
        """AcquireWrite: a socket whose packets are Write Commands; returns (fd, MTU)."""
        entry = self._link.entry_for(msg)
        parse_options(msg.body[0], with_type=False)
        if "write-without-response" not in entry.char.flags:
            raise DBusReplyError(f"{ERR}.NotSupported", "Operation is not supported")
        if entry.write_channel is not None:
            raise DBusReplyError(f"{ERR}.NotPermitted", "Write acquired")
        path = str(msg.path)

        async def on_packet(data: bytes) -> None:
            if len(data) > self._link.mtu - att.WRITE_REQ_HEADER:
                logger.warning("acquired write of %d bytes exceeds MTU-3: dropped", len(data))
                return
            try:
                await self._link.write_command(entry, data)
            except DBusReplyError as err:
                logger.info("acquired write failed: %s", err)

        def on_close() -> None:
            entry.write_channel = None
            self._link.central.update(
                path, GATT_CHARACTERISTIC, {"WriteAcquired": Variant("b", False)}
            )

        entry.write_channel = FdChannel(on_packet, on_close)
        fd = entry.write_channel.open()
        self._link.central.update(path, GATT_CHARACTERISTIC, {"WriteAcquired": Variant("b", True)})
        return FdReply([0, self._link.mtu], [fd])

    async def acquire_notify(self, msg: Message) -> FdReply:
        """AcquireNotify: notifications arrive as packets on a socket; returns (fd, MTU)."""
        entry = self._link.entry_for(msg)
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
            self._link.central.update(
                path, GATT_CHARACTERISTIC, {"NotifyAcquired": Variant("b", False)}
            )
            if self._link.alive:
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
        self._link.central.update(path, GATT_CHARACTERISTIC, {"NotifyAcquired": Variant("b", True)})
        return FdReply([0, self._link.mtu], [fd])

    async def _app_notify_call(self, entry: MirroredChar, member: str) -> None:
        try:
            await self._link.app_call(
                entry.app, entry.char.app_path, GATT_CHARACTERISTIC, member, "", []
            )
        except DBusReplyError as err:  # bluetoothd logs and carries on
            logger.warning("application %s failed: %s", member, err)

    async def forget_sender(self, sender: str) -> None:
        """A central-side client left the bus: end its notify sessions."""
        for path, entry in list(self._link.chars.items()):
            if sender in entry.subscribers:
                await self._unsubscribe(entry, path, sender)

    async def release(self) -> None:
        """After the link is gone: close acquired sockets, clear CCCDs, stop app notify."""
        for entry in self._link.chars.values():
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
        for path, entry in self._link.chars.items():
            if entry.app.sender != sender or entry.char.app_path != app_path:
                continue
            if not entry.notify_enabled or not self._link.alive:
                continue
            payload = att.notification_payload(value, self._link.mtu)
            if att.uses_indications(entry.char.flags):
                entry.indications.append(payload)
                if not entry.awaiting_confirmation:
                    self._indicate_next(path, entry)
                continue
            self._link.counters.record(
                OpKind.NOTIFICATION, "p2c", att.NOTIFICATION_HEADER + len(payload)
            )
            self._deliver(path, entry, payload)

    def _deliver(self, path: str, entry: MirroredChar, payload: bytes) -> None:
        if entry.notify_channel is not None:  # the Value property is not updated then
            entry.notify_channel.send(payload)
            return
        self._link.central.update(
            path, GATT_CHARACTERISTIC, {"Value": Variant("ay", payload)}, force=True
        )

    def _indicate_next(self, path: str, entry: MirroredChar) -> None:
        """Send the oldest queued indication; the next waits for its confirmation, which
        the central's BlueZ sends once it has handled it (here: on the next loop turn)."""
        if not entry.indications or not self._link.alive:
            entry.indications.clear()
            entry.awaiting_confirmation = False
            return
        payload = entry.indications.popleft()
        entry.awaiting_confirmation = True
        self._link.counters.record(OpKind.INDICATION, "p2c", att.NOTIFICATION_HEADER + len(payload))
        self._deliver(path, entry, payload)

        def confirmed() -> None:
            if self._link.alive:
                self._link.counters.record(OpKind.INDICATION, "c2p", att.CONFIRMATION_LEN)
            entry.awaiting_confirmation = False
            self._indicate_next(path, entry)

        asyncio.get_running_loop().call_soon(confirmed)
