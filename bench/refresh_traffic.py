"""Idle refresh traffic of the gateway in prefetch mode over a simulated day.

Runs the real TokenStore on the virtual clock against the in-process Endorse stand-in
(600 s RS256 tokens) for 24 hours and compares the fetches per hour with the target
3600 / (renew_at_fraction x lifetime) = 7.5. Prints the ratio measured/target (must be
<= 1.0; exit status 1 otherwise) and an estimate of the cellular bytes per day.

    python -m bench.refresh_traffic
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

from bench import verdict
from endorse_ble.peripheral.settings import RefreshSettings
from endorse_ble.peripheral.store_state import StoreSnapshot, StoreState
from endorse_ble.peripheral.token_store import TokenStore
from endorse_ble.testbed.clock import VirtualClock
from endorse_ble.testbed.endorse_keys import EndorseSigner
from endorse_ble.testbed.inprocess_endorse import InProcessEndorse

LIFETIME_SECONDS = 600
DAY_SECONDS = 86_400

# Per-fetch overhead on the air besides the token itself, an ESTIMATE (not measured here):
# a fresh TCP connection and TLS 1.3 full handshake to endorse.soracom.io every ~8 minutes
# (keep-alive does not survive such idle gaps on carrier NATs): ~4,500 bytes, mostly the
# server's certificate chain; TCP/IP headers, SYN/FIN/ACKs: ~1,000 bytes; HTTP/1.1 request
# line and headers: ~200 bytes; response status and headers: ~300 bytes; the JSON wrapper
# {"token": "..."}: 13 bytes.
HANDSHAKE_BYTES = 4500
TCP_IP_BYTES = 1000
HTTP_REQUEST_BYTES = 200
HTTP_RESPONSE_HEADER_BYTES = 300
JSON_WRAPPER_BYTES = 13
OVERHEAD_BYTES = (
    HANDSHAKE_BYTES
    + TCP_IP_BYTES
    + HTTP_REQUEST_BYTES
    + HTTP_RESPONSE_HEADER_BYTES
    + JSON_WRAPPER_BYTES
)


async def simulate_day(
    signer: EndorseSigner,
) -> tuple[InProcessEndorse, list[StoreSnapshot], float]:
    """Run the store for one virtual day; return the source, the events, and the start."""
    clock = VirtualClock()
    clock.attach()
    endorse = InProcessEndorse(signer, clock, lifetime=LIFETIME_SECONDS)
    store = TokenStore(endorse, RefreshSettings(mode="prefetch"), clock)
    events: list[StoreSnapshot] = []
    store.subscribe(events.append)
    start = clock.monotonic()
    async with store:
        await clock.run_until(start + DAY_SECONDS)
    return endorse, events, start


def main() -> int:
    settings = RefreshSettings()
    signer = EndorseSigner()
    _ = signer.private_key  # generate the RSA key before timing the simulation
    started = time.perf_counter()
    endorse, events, start = asyncio.run(simulate_day(signer))
    elapsed = time.perf_counter() - started

    # Count fetches in the half-open day [start, start + 24 h), start-up fetch included.
    fetches = sum(1 for t in endorse.call_times if start <= t < start + DAY_SECONDS)
    per_hour = fetches / (DAY_SECONDS / 3600)
    target = 3600 / (settings.renew_at_fraction * LIFETIME_SECONDS)
    ratio = per_hour / target
    token_bytes = statistics.mean(endorse.sizes)
    bytes_per_day = per_hour * 24 * (token_bytes + OVERHEAD_BYTES)
    first_ready = next(i for i, e in enumerate(events) if e.state is StoreState.READY)
    gaps = sum(1 for e in events[first_ready:] if e.state is not StoreState.READY)

    print(f"simulated {DAY_SECONDS / 3600:.0f} h of prefetch mode, {LIFETIME_SECONDS} s tokens")
    print(f"  wall time for the simulation: {elapsed:.3f} s")
    print(f"  fetches in 24 h: {fetches}  ->  {per_hour:.3f} per hour")
    print(f"  target: 3600 / ({settings.renew_at_fraction} x {LIFETIME_SECONDS}) = {target:.3f}")
    print(f"  ratio measured/target: {ratio:.3f} (must be <= 1.000)")
    print(f"  snapshots without a servable token after the first: {gaps}")
    print(f"  token size (measured, mean): {token_bytes:.0f} bytes")
    print(
        f"  per-fetch overhead (ASSUMED, not measured): {OVERHEAD_BYTES} bytes = TLS 1.3 "
        f"handshake {HANDSHAKE_BYTES} + TCP/IP {TCP_IP_BYTES} + HTTP request "
        f"{HTTP_REQUEST_BYTES} + response headers {HTTP_RESPONSE_HEADER_BYTES} + JSON "
        f"{JSON_WRAPPER_BYTES}"
    )
    print(f"  bytes per day: {bytes_per_day:,.0f} (~{bytes_per_day * 30 / 1e6:.1f} MB per 30 days)")
    ok = ratio <= 1.0 and not gaps
    print("OK" if ok else "FAIL: refresh traffic above target or a gap in service")
    return verdict(ok)


if __name__ == "__main__":
    sys.exit(main())
