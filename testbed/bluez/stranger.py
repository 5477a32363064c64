"""A hostile central for the testbed: writes a valid nonce to Challenge over and over.

    python -m endorse_ble.testbed.bluez.stranger --adapter hci2 --interval 0.1

Never pairs. Scans for the token service, connects once, prints ``CONNECTED``, then
writes a fresh random nonce every ``--interval`` seconds until stdin closes, and prints
one JSON line: how many writes the gateway accepted, refused as busy, refused for the
budget, or failed otherwise. What an attacker in radio range can do with stock bleak.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys

from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError

from endorse_ble.tokenlink import profile


async def _stdin_closed() -> None:
    await asyncio.to_thread(sys.stdin.read)


async def attack(adapter: str, interval: float) -> dict[str, int]:
    device = await BleakScanner.find_device_by_filter(
        lambda d, a: profile.SERVICE_UUID in a.service_uuids,
        timeout=20,
        service_uuids=[profile.SERVICE_UUID],
        bluez={"adapter": adapter},
    )
    if device is None:
        raise SystemExit("no gateway found")
    outcome = {"accepted": 0, "busy": 0, "refused": 0, "failed": 0}
    async with BleakClient(device, bluez={"adapter": adapter}) as client:
        print("CONNECTED", flush=True)
        stop = asyncio.ensure_future(_stdin_closed())
        while not stop.done():
            nonce = secrets.token_urlsafe(16).encode()
            try:
                await client.write_gatt_char(profile.CHALLENGE_UUID, nonce, response=True)
                outcome["accepted"] += 1
            except BleakError as exc:
                text = str(exc)
                key = "failed"
                if f"0x{profile.ATT_CHALLENGE_BUSY:02x}" in text:
                    key = "busy"
                elif f"0x{profile.ATT_CHALLENGE_REFUSED:02x}" in text:
                    key = "refused"
                outcome[key] += 1
                if key == "failed":
                    print(f"write failed: {text}", file=sys.stderr, flush=True)
            # The attack's pace, not a synchronisation: the stop is awaited just as well.
            await asyncio.wait([stop], timeout=interval)
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", default="hci2")
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(attack(args.adapter, args.interval))), flush=True)


if __name__ == "__main__":
    main()
