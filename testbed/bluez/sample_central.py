"""A bleak client for the testbed (the only testbed module importing bleak).

Scans for the sample service UUID, connects (pairing first with ``--pair``), runs the
operations given with ``--op`` in order, disconnects and prints one JSON line::

    {"ok": true, "address": "...", "name": "...", "results": [{"op": "read", ...}, ...]}

Operations (UUIDs default to the sample peripheral's):
    read:<uuid>                 read a characteristic (hex value in the result)
    write:<uuid>:<hex>          write with response
    write-cmd:<uuid>:<hex>      write without response
    notify:<uuid>:<uuid>:<hex>  subscribe to the first, write the hex to the second,
                                wait for one notification, unsubscribe
    notify-acquired:...         the same through AcquireNotify (a socket)
    mtu                         acquire the ATT MTU (AcquireWrite), report mtu_size
The first failing operation ends the run (its error type and message are in the result).
Exit status 0 when every operation succeeded, 1 otherwise. Set ``DBUS_SYSTEM_BUS_ADDRESS``
to the central bus.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError

from endorse_ble.testbed.bluez.sample_profile import (
    NOTIFY_UUID,
    READ_UUID,
    SERVICE_UUID,
    WRITE_UUID,
)

logger = logging.getLogger(__name__)

DEFAULT_OPS = [
    f"read:{READ_UUID}",
    f"write:{WRITE_UUID}:{b'hello'.hex()}",
    f"write-cmd:{WRITE_UUID}:{b'quiet'.hex()}",
    f"notify:{NOTIFY_UUID}:{WRITE_UUID}:{b'ping'.hex()}",
]


async def _notify(
    client: BleakClient,
    notify_uuid: str,
    trigger_uuid: str,
    data: bytes,
    wait: float,
    acquired: bool = False,
) -> bytes:
    received: asyncio.Queue[bytes] = asyncio.Queue()
    await client.start_notify(
        notify_uuid,
        lambda _c, value: received.put_nowait(bytes(value)),
        bluez={"use_start_notify": not acquired},
    )
    await client.write_gatt_char(trigger_uuid, data, response=True)
    value = await asyncio.wait_for(received.get(), wait)
    await client.stop_notify(notify_uuid)
    return value


async def run_op(client: BleakClient, op: str, wait: float) -> dict[str, Any]:
    """Run one ``--op`` and describe its outcome."""
    kind, _, rest = op.partition(":")
    parts = rest.split(":")
    if kind == "read":
        value = await client.read_gatt_char(parts[0])
        return {"op": kind, "uuid": parts[0], "value": bytes(value).hex()}
    if kind in ("write", "write-cmd"):
        await client.write_gatt_char(parts[0], bytes.fromhex(parts[1]), response=kind == "write")
        return {"op": kind, "uuid": parts[0], "length": len(parts[1]) // 2}
    if kind in ("notify", "notify-acquired"):
        note = await _notify(
            client, parts[0], parts[1], bytes.fromhex(parts[2]), wait, kind == "notify-acquired"
        )
        return {"op": kind, "uuid": parts[0], "value": note.hex()}
    if kind == "mtu":
        # bleak's documented workaround (examples/mtu_size.py): BlueZ only tells the MTU
        # through AcquireWrite/AcquireNotify.
        await client._backend._acquire_mtu()  # type: ignore[attr-defined]
        return {"op": kind, "mtu": client.mtu_size}
    raise ValueError(f"unknown operation {op!r}")


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Scan, connect, run the operations, disconnect."""
    device = await BleakScanner.find_device_by_filter(
        lambda _d, _ad: True, timeout=args.timeout, service_uuids=[args.service]
    )
    if device is None:
        return {"ok": False, "error": "not_found", "results": []}
    results: list[dict[str, Any]] = []
    ok = True
    client = BleakClient(device, timeout=args.timeout, pair=args.pair)
    try:
        await client.connect()
    except (BleakError, TimeoutError) as err:
        return {"ok": False, "error": type(err).__name__, "detail": str(err), "results": []}
    try:
        for op in args.op or DEFAULT_OPS:
            try:
                results.append(await run_op(client, op, args.timeout))
            except (BleakError, TimeoutError) as err:
                results.append(
                    {"op": op.split(":")[0], "error": type(err).__name__, "detail": str(err)}
                )
                ok = False
                if not args.keep_going:
                    break
    finally:
        try:
            await client.disconnect()
        except (BleakError, TimeoutError) as err:
            logger.warning("disconnect failed: %r", err)
    return {"ok": ok, "address": device.address, "name": device.name, "results": results}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m endorse_ble.testbed.bluez.sample_central``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", default=SERVICE_UUID)
    parser.add_argument("--op", action="append", help="operation (repeatable), see above")
    parser.add_argument("--pair", action="store_true", help="pair before the operations")
    parser.add_argument(
        "--keep-going", action="store_true", help="run the remaining operations after a failure"
    )
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = asyncio.run(main_async(args))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
