"""``endorse-peripheral pair``: the running daemon's pairing window and bonds.

Talks to the daemon over its control socket (peripheral.control_socket); the daemon makes
the BlueZ calls with its own agent. Exit codes: 0 done, 1 the daemon refused or cannot be
reached (one line on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys

from endorse_ble.peripheral.control_protocol import (
    CloseWindowRequest,
    ControlRequestError,
    ListBondsRequest,
    OpenWindowRequest,
    RemoveBondRequest,
    Request,
    check_address,
)
from endorse_ble.peripheral.control_socket import DEFAULT_SOCKET, ControlSocketError, ask
from endorse_ble.peripheral.pairing_window import (
    MAX_WINDOW_SECONDS,
    WindowError,
    check_window_seconds,
)
from endorse_ble.tokenlink.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

PROG = "endorse-peripheral pair"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Open a pairing window on the running gateway daemon (its own BlueZ agent approves "
        "pairing only while the window is open), or list and remove bonded laptops."
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--open",
        type=int,
        metavar="SECONDS",
        help=f"make the adapter pairable and discoverable for SECONDS (1-{MAX_WINDOW_SECONDS}),"
        " then close it by itself",
    )
    action.add_argument("--close", action="store_true", help="close an open window now")
    action.add_argument("--list", action="store_true", help="list bonded devices")
    action.add_argument("--remove", metavar="ADDR", help="remove the bond with ADDR")
    parser.add_argument(
        "--socket",
        default=DEFAULT_SOCKET,
        metavar="PATH",
        help="the daemon's control socket (default: %(default)s)",
    )


def _request(args: argparse.Namespace) -> Request:
    if args.open is not None:
        return OpenWindowRequest(check_window_seconds(args.open))
    if args.close:
        return CloseWindowRequest()
    if args.list:
        return ListBondsRequest()
    return RemoveBondRequest(check_address(args.remove))


def run(args: argparse.Namespace) -> int:
    try:
        request = _request(args)
    except (WindowError, ControlRequestError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        reply = ask(args.socket, request)
    except ControlSocketError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if not reply.ok:
        print(f"{PROG}: {reply.message}", file=sys.stderr)
        return EXIT_FAILURE
    if isinstance(request, ListBondsRequest):
        for device in reply.devices:
            state = "connected" if device.connected else "-"
            print(f"{device.address}  {state:9}  {device.name}")
        if not reply.devices:
            print("no bonded devices")
    else:
        print(reply.message)
    return EXIT_OK
