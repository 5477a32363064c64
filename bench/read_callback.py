"""Time per call of the gateway's GATT read callback (it must do no I/O).

Calls the ReadValue handler that BlueZ invokes for every ATT Read / Read Blob of a token
page, with a 2 KiB token published, at every offset a MTU 23 central would ask for.
Baseline measured in the same run: a bare ``value[offset:]`` slice of the same bytes.
Prints p50/p99 of both and the p50 ratio.

    python -m bench.read_callback
"""

from __future__ import annotations

import statistics
import sys
import time
from types import SimpleNamespace
from typing import Any

from bless.backends.bluezdbus.dbus.characteristic import Flags
from dbus_next.signature import Variant

from bench import iterations, verdict
from endorse_ble.peripheral.gatt_server import TokenGattServer, _ProfileCharacteristic
from endorse_ble.peripheral.gatt_view import ChallengeWrite, GattSnapshot
from endorse_ble.peripheral.settings import BleSettings
from endorse_ble.testbed.endorse_keys import EndorseSigner, SimIdentity
from endorse_ble.tokenlink import profile

ROUNDS = iterations(20_000, 1_000)
# Generous: only a callback that blocked (I/O, a lock held elsewhere) would come near it.
P99_LIMIT_SECONDS = 200e-6


class _NoEvents:
    def on_challenge(self, write: ChallengeWrite) -> None:
        pass

    def on_page_read(self, central: str, index: int, final: bool) -> None:
        pass


def _percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[98]


def main() -> None:
    token = EndorseSigner().mint(SimIdentity(), extra_claims={"padding": "p" * 900})
    server = TokenGattServer(BleSettings(), events=_NoEvents())
    served = profile.serve_token(token, expires_at=0, generation=1)
    server.publish(GattSnapshot(served=served, status=b"{}"))
    service = SimpleNamespace(path="/org/bluez/bench/service0001")
    char = _ProfileCharacteristic(
        profile.page_uuid(0), [Flags.READ], 1, service, server._page_reader(0), None
    )
    # dbus_next keeps the undecorated handler here; BlueZ's call ends up in it.
    handler: Any = type(char).ReadValue.__dict__["__DBUS_METHOD"].fn
    page = served.pages[0]
    offsets = list(range(0, len(page), 22))
    options = [{"offset": Variant("q", o)} if o else {} for o in offsets]

    def timed(call: Any) -> list[float]:
        samples = []
        for i in range(ROUNDS):
            opts, offset = options[i % len(offsets)], offsets[i % len(offsets)]
            start = time.perf_counter()
            call(opts, offset)
            samples.append(time.perf_counter() - start)
        return samples

    assert handler(char, options[3]) == page[offsets[3] :]
    base = timed(lambda _opts, offset: page[offset:])
    real = timed(lambda opts, _offset: handler(char, opts))
    b50, b99 = _percentiles(base)
    r50, r99 = _percentiles(real)
    print(f"read callback, {ROUNDS} calls over a 2 KiB token page at MTU 23 offsets")
    print(f"  callback   p50 {r50 * 1e6:7.2f} us   p99 {r99 * 1e6:7.2f} us")
    print(f"  bare slice p50 {b50 * 1e6:7.2f} us   p99 {b99 * 1e6:7.2f} us")
    print(f"  ratio callback/slice (p50): {r50 / b50:.1f}")
    ok = r99 < P99_LIMIT_SECONDS
    print(f"p99 under {P99_LIMIT_SECONDS * 1e6:.0f} us: {'PASS' if ok else 'FAIL'}")
    sys.exit(verdict(ok))


if __name__ == "__main__":
    main()
