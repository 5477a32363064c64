"""The gateway's GATT server: the token profile (docs/protocol.md) served through bless.

The only gateway module that imports bless. bless 0.3.0's BlueZ backend drops the options
BlueZ passes to ReadValue/WriteValue (offset, mtu, device), so any value longer than MTU-1
would reach a real central as a repeated prefix, and a challenge could not be told apart
by central. We keep bless for what it does well (the D-Bus application, adapter lookup,
advertisement) and register the profile's characteristics as a narrow subclass whose
ReadValue honours the offset and reads one immutable snapshot, and whose WriteValue passes
on the ``device`` that wrote.

This module deliberately does not use ``from __future__ import annotations``: dbus_next
reads D-Bus signatures from the annotation strings of ``@method`` functions.
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from bless.backends.bluezdbus.dbus.characteristic import (
    BlueZGattCharacteristic,
    Flags,
)
from bless.backends.bluezdbus.server import (
    BlessServerBlueZDBus,
)
from dbus_next.constants import MessageType
from dbus_next.errors import DBusError
from dbus_next.message import Message
from dbus_next.service import method

from endorse_ble.peripheral import dbus_reply_fix
from endorse_ble.peripheral.errors import PeripheralError
from endorse_ble.peripheral.gatt_view import (
    ChallengeRefused,
    ChallengeWrite,
    GattEvents,
    GattSnapshot,
)
from endorse_ble.peripheral.log_limit import RateLimitedLog
from endorse_ble.peripheral.settings import BleSettings
from endorse_ble.tokenlink import profile
from endorse_ble.tokenlink.nonce import NonceError, NonceProblem, check_nonce

log = logging.getLogger(__name__)
#: Refusals anyone in range can cause at will: logged once a minute at most, with a count.
_refusals = RateLimitedLog(log)

BLUEZ_NAME = "org.bluez"


class GattServerError(PeripheralError):
    """The GATT server could not start (no BlueZ, no adapter, registration refused)."""


def _option_int(options: dict[str, Any], key: str) -> int:
    variant = options.get(key)
    value = getattr(variant, "value", 0)
    return value if isinstance(value, int) else 0


#: The LE ATT MTU when BlueZ does not say (Core spec Vol 3, Part F, 3.2.8).
_DEFAULT_MTU = 23
#: A BlueZ object path is short; anything longer is not one (it keys a budget table).
_MAX_DEVICE_PATH = 128


def _option_device(options: dict[str, Any]) -> str:
    """The ``device`` option (the remote central's object path), "" when absent."""
    value = getattr(options.get("device"), "value", "")
    return value if isinstance(value, str) and len(value) <= _MAX_DEVICE_PATH else ""


#: What a writable characteristic calls: the value and the writing device's path.
Writer = Callable[[bytes, str], None]
#: Told of each read: the reading device's path, and whether the read reached the end of
#: the value (the last response of BlueZ's Read Blob loop, at most MTU-1 bytes).
ReadWitness = Callable[[str, bool], None]


class _ProfileCharacteristic(BlueZGattCharacteristic):
    """A GattCharacteristic1 whose reads honour BlueZ's ``offset`` option.

    BlueZ calls ReadValue once per ATT Read / Read Blob request with ``offset`` set for
    the blobs, and expects the value from that offset on (BlueZ doc
    org.bluez.GattCharacteristic.rst, ReadValue). Every call reads the snapshot current at
    that moment, so blobs of one long read may straddle a token rotation: the central
    detects that with the info record's length and hash (docs/protocol.md, "Sequences").
    """

    def __init__(
        self,
        uuid: str,
        flags: list[Any],
        index: int,
        service: Any,
        read: Callable[[], bytes] | None,
        write: Writer | None,
        witness: ReadWitness | None = None,
    ) -> None:
        super().__init__(uuid, flags, index, service)
        self._read = read
        self._write = write
        self._witness = witness

    @method()
    def ReadValue(self, options: "a{sv}") -> "ay":  # noqa: F821, F722
        if self._read is None:
            raise DBusError("org.bluez.Error.NotPermitted", "read not permitted")
        value = self._read()
        offset = _option_int(options, "offset")
        if offset > len(value):
            raise DBusError("org.bluez.Error.InvalidOffset", "offset past the end of the value")
        if self._witness is not None:
            mtu = _option_int(options, "mtu") or _DEFAULT_MTU
            self._witness(_option_device(options), len(value) - offset <= mtu - 1)
        return value[offset:]

    @method()
    def WriteValue(self, value: "ay", options: "a{sv}"):  # type: ignore[no-untyped-def]  # noqa: F821, F722
        if self._write is None:
            raise DBusError("org.bluez.Error.NotPermitted", "write not permitted")
        if _option_int(options, "offset"):
            # Prepared (long) writes make no sense for a 64-byte nonce.
            raise DBusError("org.bluez.Error.InvalidOffset", "offset writes are not supported")
        self._write(bytes(value), _option_device(options))


def _flags(*names: Flags) -> list[Flags]:
    return list(names)


def _att_error(code: int) -> DBusError:
    # BlueZ (gatt-database.c dbus_error_to_att_ecode) turns Failed with "0xNN" in the
    # application range 0x80-0x9F into that ATT error.
    return DBusError("org.bluez.Error.Failed", f"0x{code:02x}")


class TokenGattServer:
    """Serves the token profile on one BlueZ adapter, from snapshots the daemon publishes."""

    def __init__(self, settings: BleSettings, events: GattEvents) -> None:
        self._settings = settings
        self._events = events
        self._snapshot = GattSnapshot(profile.ServedToken(profile.empty_info(), ()), b"{}")
        self._server: Any = None
        self._info_char: Any = None
        self._status_char: Any = None
        self._registered = False
        self._reregister_task: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to BlueZ, register the application and start advertising."""
        # BlessServer's constructor schedules its setup on the running loop.
        server = BlessServerBlueZDBus(name=self._settings.name, adapter=self._settings.adapter)
        try:
            await server.setup_task
        except Exception as exc:  # bless raises bare Exception for a missing adapter
            raise GattServerError(
                f"cannot use Bluetooth adapter {self._settings.adapter!r}: {exc}"
            ) from exc
        self._server = server
        dbus_reply_fix.install(server.bus, DBusError)
        await server.add_new_service(profile.SERVICE_UUID)
        await self._add_characteristics()
        server.bus.add_message_handler(self._on_bus_message)
        await server.bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="AddMatch",
                signature="s",
                body=[
                    "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',"
                    f"arg0='{BLUEZ_NAME}'"
                ],
            )
        )
        try:
            await server.start()
        except DBusError as exc:
            raise GattServerError(f"BlueZ refused the GATT application: {exc}") from exc
        self._registered = True
        log.info("GATT application registered and advertising as %r", self._settings.name)

    async def stop(self) -> None:
        """Stop advertising and unregister; tolerate a BlueZ that is already gone."""
        if self._reregister_task is not None:
            self._reregister_task.cancel()
        server, self._server = self._server, None
        if server is None:
            return
        server.bus.remove_message_handler(self._on_bus_message)
        if self._registered:
            try:
                await server.stop()
            except DBusError as exc:
                log.warning("unregistering from BlueZ failed: %s", exc)
        server.bus.disconnect()
        self._registered = False

    # --- what is served -------------------------------------------------------------------

    def publish(self, snapshot: GattSnapshot) -> None:
        """Serve ``snapshot`` from now on; notify subscribers of Info and Status changes."""
        previous, self._snapshot = self._snapshot, snapshot
        if self._info_char is None:
            return
        info = snapshot.served.info_bytes
        if info != previous.served.info_bytes:
            # bless emits PropertiesChanged(Value); BlueZ turns it into a notification.
            self._info_char.Value = info
        if snapshot.status != previous.status:
            self._status_char.Value = snapshot.status

    def _read_info(self) -> bytes:
        return self._snapshot.served.info_bytes

    def _read_status(self) -> bytes:
        return self._snapshot.status

    def _page_reader(self, index: int) -> Callable[[], bytes]:
        def read() -> bytes:
            pages = self._snapshot.served.pages
            return pages[index] if index < len(pages) else b""

        return read

    def _page_witness(self, index: int) -> ReadWitness:
        def seen(device: str, final: bool) -> None:
            self._events.on_page_read(device, index, final)

        return seen

    def _challenge_writer(self, *, bonded: bool) -> Writer:
        def write(value: bytes, device: str) -> None:
            self._write_challenge(value, device, bonded=bonded)

        return write

    def _write_challenge(self, value: bytes, device: str, *, bonded: bool) -> None:
        nonce: str | None = None
        if value:
            try:
                nonce = check_nonce(value)
            except NonceError as exc:
                _refusals.log(
                    logging.INFO,
                    "challenge-write",
                    "refused a challenge write of %d bytes: %s",
                    len(value),
                    exc,
                )
                if exc.problem is NonceProblem.LENGTH:
                    # BlueZ maps InvalidValueLength to ATT 0x0D.
                    raise DBusError("org.bluez.Error.InvalidValueLength", str(exc)) from exc
                raise _att_error(profile.ATT_NONCE_MALFORMED) from exc
        try:
            self._events.on_challenge(ChallengeWrite(nonce, device, bonded))
        except ChallengeRefused as exc:
            # A stranger may write every second: the log says so at a bounded rate.
            _refusals.log(logging.INFO, "challenge-refused", "%s", exc.detail)
            raise _att_error(exc.att_error) from exc

    async def _add_characteristics(self) -> None:
        service = self._server.services[profile.SERVICE_UUID].gatt
        secure = self._settings.require_encryption
        read = Flags.ENCRYPT_READ if secure else Flags.READ
        write = Flags.ENCRYPT_WRITE if secure else Flags.WRITE
        self._info_char = await self._add(
            service, profile.INFO_UUID, _flags(Flags.READ, Flags.NOTIFY), self._read_info, None
        )
        self._status_char = await self._add(
            service,
            profile.STATUS_UUID,
            _flags(Flags.READ, Flags.NOTIFY),
            self._read_status,
            None,
        )
        await self._add(
            service, profile.CHALLENGE_UUID, [write], None, self._challenge_writer(bonded=False)
        )
        # Always encrypt-write, whatever require_encryption says: BlueZ itself refuses it
        # to a central without the bond's keys, which is what makes its budget safe.
        await self._add(
            service,
            profile.BONDED_CHALLENGE_UUID,
            [Flags.ENCRYPT_WRITE],
            None,
            self._challenge_writer(bonded=True),
        )
        for index in range(profile.page_count_for(profile.MAX_ENCODED_BYTES)):
            await self._add(
                service,
                profile.page_uuid(index),
                [read],
                self._page_reader(index),
                None,
                self._page_witness(index),
            )

    async def _add(
        self,
        service: Any,
        uuid: str,
        flags: list[Flags],
        read: Callable[[], bytes] | None,
        write: Writer | None,
        witness: ReadWitness | None = None,
    ) -> _ProfileCharacteristic:
        # Mirrors bless's BlueZGattService.add_characteristic, with our subclass.
        index = len(service.characteristics) + 1
        char = _ProfileCharacteristic(uuid, flags, index, service, read, write, witness)
        service.characteristics.append(char)
        await service.app._register_object(char)
        return char

    # --- BlueZ restarts -------------------------------------------------------------------

    def _on_bus_message(self, message: Any) -> None:
        if (
            message.message_type is MessageType.SIGNAL
            and message.member == "NameOwnerChanged"
            and message.body
            and message.body[0] == BLUEZ_NAME
        ):
            new_owner = message.body[2]
            if not new_owner:
                log.warning("BlueZ left the bus; waiting for it to come back")
                self._registered = False
            elif self._reregister_task is None or self._reregister_task.done():
                self._reregister_task = asyncio.get_running_loop().create_task(self._reregister())

    async def _reregister(self) -> None:
        """BlueZ forgets applications and advertisements when it restarts: register again."""
        server = self._server
        if server is None:
            return
        try:
            await server.app.register(server.adapter)
            await server.app.start_advertising(server.adapter)
        except DBusError as exc:
            log.error("re-registering with BlueZ failed: %s", exc)
            return
        self._registered = True
        log.info("BlueZ came back: GATT application and advertisement registered again")


def bluez_adapter_problem(adapter: str, deadline: float) -> str | None:
    """None when BlueZ runs and has ``adapter`` on the system bus, else what is wrong.

    For the environment checks (check-config, run's start); answers within ``deadline``.
    """
    return asyncio.run(_adapter_problem(adapter, deadline))


async def _adapter_problem(adapter: str, deadline: float) -> str | None:
    from dbus_next.aio.message_bus import MessageBus
    from dbus_next.constants import BusType

    try:
        async with asyncio.timeout(deadline):
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
            try:
                reply = await bus.call(
                    Message(
                        destination=BLUEZ_NAME,
                        path=f"/org/bluez/{adapter}",
                        interface="org.freedesktop.DBus.Properties",
                        member="Get",
                        signature="ss",
                        body=["org.bluez.Adapter1", "Address"],
                    )
                )
            finally:
                bus.disconnect()
    except TimeoutError:
        return f"BlueZ did not answer within {deadline:g} s"
    except (OSError, DBusError, ValueError) as exc:
        return f"cannot reach the system D-Bus ({exc})"
    if reply is None or reply.message_type is not MessageType.ERROR:
        return None
    if reply.error_name in (
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
    ):
        return "BlueZ (bluetoothd) is not running"
    return f"BlueZ has no adapter {adapter} ({reply.error_name})"
