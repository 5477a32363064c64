"""``endorse-testbed aws``: a local AWS (moto) on 127.0.0.1 for the exchange."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from endorse_ble.tokenlink.cli import EXIT_OK


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="port (0: any free port)")


def run(args: argparse.Namespace) -> int:
    """Serve STS, IAM and DynamoDB with moto until SIGINT/SIGTERM."""
    from moto.server import ThreadedMotoServer

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        print(f"AWS_ENDPOINT_URL=http://{host}:{port}")
        print("READY", flush=True)
        stop.wait()
    finally:
        server.stop()
    print("endorse-testbed aws: stopped", file=sys.stderr)
    return EXIT_OK
