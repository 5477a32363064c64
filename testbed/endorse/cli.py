"""``endorse-testbed endorse``: run the Endorse simulator until SIGINT or SIGTERM.

Prints ``ENDORSE_URL=<token endpoint>`` and ``KEYSTORE_URL=<kid prefix>`` on stdout, then
``READY`` once it accepts requests (scripts and tests wait for that line). Exit 0 on a
signal, 1 when the address cannot be bound.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from endorse_ble.testbed.endorse.server import EndorseFault, EndorseSimulator
from endorse_ble.testbed.endorse_keys import SimIdentity
from endorse_ble.tokenlink.cli import EXIT_FAILURE, EXIT_OK


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options."""
    defaults = SimIdentity()
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: 0, any free port)")
    parser.add_argument(
        "--lifetime", type=int, default=600, help="token lifetime in seconds (default: %(default)s)"
    )
    parser.add_argument(
        "--imsi", default=defaults.imsi, help="IMSI named in tokens (default: %(default)s)"
    )
    parser.add_argument(
        "--imei", default=defaults.imei, help="IMEI named in tokens (default: %(default)s)"
    )
    parser.add_argument(
        "--fault",
        choices=[f.value for f in EndorseFault],
        default=EndorseFault.NONE.value,
        help="how the token endpoint misbehaves (default: %(default)s)",
    )
    parser.add_argument(
        "--slow-delay",
        type=float,
        default=2.0,
        help="seconds the 'slow' fault waits (default: %(default)s)",
    )
    parser.add_argument(
        "--padding",
        type=int,
        default=0,
        metavar="BYTES",
        help="add a claim of BYTES characters to every token, for larger tokens (default: 0)",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    sim_identity = SimIdentity(imsi=args.imsi, imei=args.imei)
    sim = EndorseSimulator(sim=sim_identity, lifetime=args.lifetime, host=args.host, port=args.port)
    sim.fault = EndorseFault(args.fault)
    sim.slow_delay_seconds = args.slow_delay
    sim.padding_bytes = args.padding
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sim.start()
    except OSError as exc:
        print(
            f"endorse-testbed endorse: cannot listen on {args.host}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    try:
        print(f"ENDORSE_URL={sim.url}")
        print(f"KEYSTORE_URL={sim.keystore_url}")
        print("READY", flush=True)
        stop.wait()
    finally:
        sim.stop()
    return EXIT_OK
