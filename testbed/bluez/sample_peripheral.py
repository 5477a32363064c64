"""A stock bless GATT server for the testbed (the only testbed module importing bless).

One service with: a read characteristic holding ``--read-size`` bytes (a known pattern),
a second one holding ``--short-size`` bytes (or refusing reads with the D-Bus error
named by ``--refuse-short``),
a write characteristic (write and write-without-response), a notify characteristic (each
write to the write characteristic is echoed there as a notification), and a characteristic
that needs encryption to read or write. Prints ``READY`` on stdout once the application and
its advertisement are registered, then one ``WRITE <uuid> <hex>`` line per write received.
Runs until SIGINT/SIGTERM. Set ``DBUS_SYSTEM_BUS_ADDRESS`` to the peripheral bus.

    python -m endorse_ble.testbed.bluez.sample_peripheral --read-size 300
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from bless import (  # type: ignore[attr-defined]
    BlessGATTCharacteristic,
    BlessServer,
    GATTAttributePermissions,
    GATTCharacteristicProperties,
)
from dbus_next.errors import DBusError
from dbus_next.message import Message
from dbus_next.service import ServiceInterface, method
from dbus_next.signature import Variant

from endorse_ble.testbed.bluez.sample_profile import (
    ENCRYPTED_UUID,
    NOTIFY_PREFIX,
    NOTIFY_UUID,
    READ_UUID,
    SERVICE_UUID,
    SHORT_UUID,
    WRITE_UUID,
    pattern,
)

logger = logging.getLogger(__name__)

AGENT_PATH = "/sample/agent"


class _JustWorksAgent(ServiceInterface):
    """An org.bluez.Agent1 that approves every Just Works pairing (``--pairable``)."""

    def __init__(self) -> None:
        super().__init__("org.bluez.Agent1")

    @method()  # type: ignore[untyped-decorator]
    def RequestAuthorization(self, device: o):  # type: ignore[name-defined,no-untyped-def]  # noqa: F821
        logger.info("approving pairing with %s", device)


async def open_pairing(bus: Any) -> None:
    """Register a Just Works agent as hci0's default and make the adapter pairable."""
    bus.export(AGENT_PATH, _JustWorksAgent())
    calls: list[tuple[str, str, str, str, list[Any]]] = [
        ("/org/bluez", "org.bluez.AgentManager1", "RegisterAgent", "os",
         [AGENT_PATH, "NoInputNoOutput"]),
        ("/org/bluez", "org.bluez.AgentManager1", "RequestDefaultAgent", "o", [AGENT_PATH]),
        ("/org/bluez/hci0", "org.freedesktop.DBus.Properties", "Set", "ssv",
         ["org.bluez.Adapter1", "Pairable", Variant("b", True)]),
    ]  # fmt: skip
    for path, interface, member, signature, body in calls:
        reply = await bus.call(
            Message(
                destination="org.bluez",
                path=path,
                interface=interface,
                member=member,
                signature=signature,
                body=body,
            )
        )
        if reply.error_name:
            raise RuntimeError(f"{member}: {reply.error_name} {reply.body}")


class SamplePeripheral:
    """The bless server and its handlers."""

    def __init__(
        self,
        name: str,
        read_size: int,
        short_size: int,
        refuse_short: str | None = None,
        indicate: bool = False,
        pairable: bool = False,
    ) -> None:
        self.name = name
        self.pairable = pairable
        self.indicate = indicate
        self.refuse_short = refuse_short
        self.read_value = pattern(read_size)
        self.short_value = pattern(short_size)
        self.server: Any = None

    def _read(self, characteristic: BlessGATTCharacteristic, **kwargs: Any) -> bytearray:
        if self.refuse_short and str(characteristic.uuid).lower() == SHORT_UUID:
            # bless lets a DBusError through to BlueZ, which maps it to an ATT error.
            raise DBusError(self.refuse_short, "refused by the sample peripheral")
        # Stock bless: the whole value every time, whatever offset BlueZ asked for.
        return bytearray(characteristic.value)

    def _write(self, characteristic: BlessGATTCharacteristic, value: Any, **kwargs: Any) -> None:
        characteristic.value = value
        uuid = str(characteristic.uuid).lower()
        sys.stdout.write(f"WRITE {uuid} {bytes(value).hex()}\n")
        sys.stdout.flush()
        if uuid == WRITE_UUID:
            notify = self.server.get_characteristic(NOTIFY_UUID)
            notify.value = bytearray(NOTIFY_PREFIX + bytes(value))
            self.server.update_value(SERVICE_UUID, NOTIFY_UUID)

    async def start(self) -> None:
        """Build the GATT tree and start advertising (inside the running loop)."""
        self.server = BlessServer(name=self.name, loop=asyncio.get_running_loop())
        self.server.read_request_func = self._read
        self.server.write_request_func = self._write
        props = GATTCharacteristicProperties
        perms = GATTAttributePermissions
        await self.server.add_new_service(SERVICE_UUID)
        chars = [
            (READ_UUID, props.read, bytearray(self.read_value), perms.readable),
            (SHORT_UUID, props.read, bytearray(self.short_value), perms.readable),
            (WRITE_UUID, props.write | props.write_without_response, None, perms.writeable),
            (
                NOTIFY_UUID,
                props.read | (props.indicate if self.indicate else props.notify),
                bytearray(b""),
                perms.readable,
            ),
            (
                ENCRYPTED_UUID,
                props.read | props.write,
                bytearray(b"secret"),
                perms.read_encryption_required | perms.write_encryption_required,
            ),
        ]
        for uuid, char_props, value, char_perms in chars:
            await self.server.add_new_characteristic(
                SERVICE_UUID, uuid, char_props, value, char_perms
            )
        await self.server.start()
        if self.pairable:
            await open_pairing(self.server.bus)

    async def stop(self) -> None:
        """Unregister and stop advertising."""
        if self.server is not None:
            await self.server.stop()


async def main_async(args: argparse.Namespace) -> int:
    """Serve until a signal arrives."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    peripheral = SamplePeripheral(
        args.name,
        args.read_size,
        args.short_size,
        args.refuse_short,
        args.indicate,
        args.pairable,
    )
    await peripheral.start()
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    await stop.wait()
    try:
        await asyncio.wait_for(peripheral.stop(), 5)
    except Exception as err:  # BlueZ may be gone (restart test): still exit cleanly
        logger.warning("stop failed: %r", err)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m endorse_ble.testbed.bluez.sample_peripheral``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="EndorseSample")
    parser.add_argument("--read-size", type=int, default=100)
    parser.add_argument("--short-size", type=int, default=20)
    parser.add_argument("--refuse-short", metavar="ERROR_NAME", help="refuse reads of it")
    parser.add_argument(
        "--indicate", action="store_true", help="the notify characteristic indicates instead"
    )
    parser.add_argument(
        "--pairable",
        action="store_true",
        help="register a Just Works agent and make hci0 pairable (for --pair centrals)",
    )
    args = parser.parse_args(argv)
    if not (0 <= args.read_size <= 4096 and 0 <= args.short_size <= 4096):
        parser.error("sizes must be within 0..4096")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
