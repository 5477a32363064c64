"""The daemon's local control protocol: one request line in, one JSON reply line out.

Spoken over the unix socket in the unit's RuntimeDirectory (peripheral.control_socket)
by ``endorse-peripheral pair``. Requests are ASCII words::

    OPEN <seconds>      open the pairing window
    CLOSE               close it now
    LIST                bonded devices
    REMOVE <address>    remove one bond (AA:BB:CC:DD:EE:FF)

The reply is one JSON object: ``{"ok": true, "message": "...", "devices": [...]}`` or
``{"ok": false, "message": "..."}``. Pure: parsing and formatting only, no I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from endorse_ble.peripheral.pairing_window import WindowError, check_window_seconds
from endorse_ble.tokenlink.text import one_line

#: Longest request line: "REMOVE AA:BB:CC:DD:EE:FF" is 24 bytes; anything much longer is
#: not ours.
MAX_REQUEST_BYTES = 64
#: Longest reply line a client accepts (a list of bonds is a few KiB at most).
MAX_REPLY_BYTES = 65536
_ADDRESS = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")


class ControlRequestError(ValueError):
    """A request line that is not one of ours; the message goes back in the reply."""


@dataclass(frozen=True)
class OpenWindowRequest:
    seconds: int


@dataclass(frozen=True)
class CloseWindowRequest:
    pass


@dataclass(frozen=True)
class ListBondsRequest:
    pass


@dataclass(frozen=True)
class RemoveBondRequest:
    address: str


Request = OpenWindowRequest | CloseWindowRequest | ListBondsRequest | RemoveBondRequest


@dataclass(frozen=True)
class BondedDevice:
    """A device BlueZ keeps keys for, as ``pair --list`` shows it."""

    address: str
    name: str
    connected: bool


@dataclass(frozen=True)
class Reply:
    ok: bool
    message: str
    devices: tuple[BondedDevice, ...] = field(default=())


def check_address(text: str) -> str:
    """A Bluetooth address in BlueZ's spelling (upper case), or ControlRequestError."""
    address = text.strip().upper()
    if not _ADDRESS.match(address):
        raise ControlRequestError(f"not a Bluetooth address (AA:BB:CC:DD:EE:FF): {text!r}")
    return address


def format_request(request: Request) -> bytes:
    """The line a client sends for ``request``."""
    match request:
        case OpenWindowRequest(seconds):
            text = f"OPEN {seconds}"
        case CloseWindowRequest():
            text = "CLOSE"
        case ListBondsRequest():
            text = "LIST"
        case RemoveBondRequest(address):
            text = f"REMOVE {address}"
    return f"{text}\n".encode("ascii")


def parse_request(line: bytes) -> Request:
    """The request on ``line`` (with or without its newline), or ControlRequestError."""
    if len(line) > MAX_REQUEST_BYTES:
        raise ControlRequestError("request too long")
    try:
        words = line.decode("ascii").split()
    except UnicodeDecodeError as exc:
        raise ControlRequestError("request is not ASCII") from exc
    if not words:
        raise ControlRequestError("empty request")
    verb, args = words[0].upper(), words[1:]
    if verb in ("CLOSE", "LIST") and not args:
        return CloseWindowRequest() if verb == "CLOSE" else ListBondsRequest()
    if verb == "OPEN" and len(args) == 1 and args[0].isdigit():
        try:
            return OpenWindowRequest(check_window_seconds(int(args[0])))
        except WindowError as exc:
            raise ControlRequestError(str(exc)) from exc
    if verb == "REMOVE" and len(args) == 1:
        return RemoveBondRequest(check_address(args[0]))
    raise ControlRequestError(f"unknown request {one_line(words[0], 16)!r}")


def format_reply(reply: Reply) -> bytes:
    body: dict[str, Any] = {"ok": reply.ok, "message": reply.message}
    if reply.devices:
        body["devices"] = [
            {"address": d.address, "name": d.name, "connected": d.connected} for d in reply.devices
        ]
    return json.dumps(body).encode() + b"\n"


def parse_reply(line: bytes) -> Reply:
    """The daemon's reply; ControlRequestError when it is not one."""
    try:
        body = json.loads(line)
        devices = tuple(
            BondedDevice(str(d["address"]), str(d["name"]), bool(d["connected"]))
            for d in body.get("devices", [])
        )
        return Reply(bool(body["ok"]), one_line(str(body["message"]), 300), devices)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ControlRequestError("the daemon's reply is not understood") from exc
