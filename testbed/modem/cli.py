"""``endorse-testbed modem``: run the modem emulator until SIGINT/SIGTERM.

Prints ``MODEM_PORT=<path>`` then ``READY`` on stdout (one line each, flushed), so a
script or test can wait for the line and point the gateway's ``[modem] port`` at it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from endorse_ble.testbed.modem.emulator import ModemEmulator, ModemFault


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--imei", default="356938035643809", help="answer to AT+CGSN")
    parser.add_argument("--imsi", default="440103123456789", help="answer to AT+CIMI")
    parser.add_argument("--iccid", default="8981100000123456789", help="answer to AT+CCID")
    parser.add_argument("--operator", default="SORACOM", help="<oper> in +COPS?")
    parser.add_argument("--rssi", type=int, default=20, help="+CSQ <rssi> (0-31, 99)")
    parser.add_argument(
        "--registration", type=int, default=1, help="+CREG <stat>: 1 home, 5 roaming, 2 searching"
    )
    parser.add_argument(
        "--fault",
        choices=[f.value for f in ModemFault if f not in (ModemFault.UNPLUG, ModemFault.REPLUG)],
        default=ModemFault.NONE.value,
        help="misbehave from the start",
    )
    parser.add_argument(
        "--urc-interval", type=float, default=None, metavar="S", help="mean seconds between URCs"
    )
    parser.add_argument("--no-echo", action="store_true", help="start with ATE0 in effect")
    parser.add_argument("--seed", type=int, default=None, help="seed for URCs and garbage")


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    emulator = ModemEmulator(
        imei=args.imei,
        imsi=args.imsi,
        iccid=args.iccid,
        operator=args.operator,
        signal_rssi=args.rssi,
        registration=args.registration,
        echo=not args.no_echo,
        urc_interval=args.urc_interval,
        seed=args.seed,
    )
    with emulator:
        emulator.set_fault(ModemFault(args.fault))
        print(f"MODEM_PORT={emulator.device_path}", flush=True)
        print("READY", flush=True)
        stop.wait()
        print(f"modem emulator: {emulator.commands_received} commands", file=sys.stderr)
    return 0
