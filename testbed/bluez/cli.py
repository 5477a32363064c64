"""``endorse-testbed bluez``: two private buses and the fake BlueZ, until SIGINT/SIGTERM.

stdout carries these lines for machines (``LAPTOP_BUS_hciN`` only with ``--laptops``)::

    PERIPHERAL_BUS=unix:path=/tmp/fakebluez-peripheral-.../bus,guid=...
    CENTRAL_BUS=unix:path=/tmp/fakebluez-central-.../bus,guid=...
    LAPTOP_BUS_hci2=unix:path=/tmp/fakebluez-laptop2-.../bus,guid=...
    READY

Each laptop (hci1 on CENTRAL_BUS, hci2... on their own buses) is a separate host.

A process joins a side by setting ``DBUS_SYSTEM_BUS_ADDRESS`` to that side's address
before its first D-Bus connection (bless on the peripheral bus, bleak on the central bus;
the control interface lives on the central bus). Logs go to stderr. Exit status 0 after a
clean stop, 1 when the buses or the fake could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from endorse_ble.testbed.bluez import att
from endorse_ble.testbed.bluez.buses import BusPair
from endorse_ble.testbed.bluez.control_service import ControlService
from endorse_ble.testbed.bluez.errors import FakeBluezError
from endorse_ble.testbed.bluez.fake import MAX_LAPTOPS, FakeBluez

logger = logging.getLogger(__name__)


def _mtu(text: str) -> int:
    try:
        return att.check_mtu(int(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``endorse-testbed bluez``."""
    parser.add_argument(
        "--mtu",
        type=_mtu,
        default=att.MIN_MTU,
        help="ATT MTU of new connections, 23..517 (default 23)",
    )
    parser.add_argument(
        "--laptops",
        type=int,
        choices=range(1, MAX_LAPTOPS + 1),
        default=1,
        metavar="N",
        help=f"independent laptop adapters hci1..hciN, 1..{MAX_LAPTOPS} (default 1)",
    )
    parser.add_argument(
        "--att-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds an unanswered ATT request waits before the link is dropped, as "
        "BlueZ does (default 30)",
    )
    parser.add_argument("--log-level", default="INFO", help="stderr log level (default INFO)")


async def serve(buses: BusPair, mtu: int, laptops: int = 1, att_timeout: float = 30.0) -> None:
    """Run the fake and its control service until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    fake = FakeBluez(
        buses.peripheral.address,
        buses.central.address,
        mtu,
        laptops,
        att_timeout,
        [bus.address for bus in buses.laptops],
    )
    control = ControlService(fake, buses.central.address)
    await fake.start()
    await control.start()
    try:
        sys.stdout.write(f"PERIPHERAL_BUS={buses.peripheral.address}\n")
        sys.stdout.write(f"CENTRAL_BUS={buses.central.address}\n")
        for number, bus in enumerate(buses.laptops[1:], start=2):
            sys.stdout.write(f"LAPTOP_BUS_hci{number}={bus.address}\n")
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        await stop.wait()
        logger.info("stopping")
    finally:
        await control.stop()
        if fake.running:
            await fake.stop()


def run(args: argparse.Namespace) -> int:
    """Start the buses (main thread, for the parent-death signal), serve, clean up."""
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    buses = BusPair(args.laptops)
    try:
        buses.start()
        asyncio.run(serve(buses, args.mtu, args.laptops, args.att_timeout))
    except FakeBluezError as err:
        logger.error("%s", err)
        return 1
    finally:
        buses.stop()
    return 0
