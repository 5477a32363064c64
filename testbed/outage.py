"""An Endorse outage on virtual time: how long after Endorse is back does a gateway fetch?

Shared by the recovery test and ``bench.outage_recovery``: the real TokenStore, default
refresh settings, the in-process Endorse refusing connections for the outage.
"""

from __future__ import annotations

import random

from endorse_ble.peripheral.settings import RefreshSettings
from endorse_ble.peripheral.token_store import TokenStore
from endorse_ble.testbed.clock import VirtualClock
from endorse_ble.testbed.endorse_keys import EndorseSigner
from endorse_ble.testbed.inprocess_endorse import InProcessEndorse

START = 1000.0
#: The issue's scenario: a 90 s outage, 20 s tokens (the served token expires meanwhile).
OUTAGE_SECONDS = 90.0
TOKEN_SECONDS = 20
#: How long after the outage a first token is waited for before giving up.
AFTER_SECONDS = 60.0


async def recovery_seconds(signer: EndorseSigner, seed: int) -> float:
    """Seconds from the end of the outage to the first token, for the gateway ``seed``
    (its backoff jitter); ``inf`` if none came within :data:`AFTER_SECONDS`."""
    clock = VirtualClock(start=START)
    clock.attach()
    endorse = InProcessEndorse(signer, clock, lifetime=TOKEN_SECONDS)
    store = TokenStore(endorse, RefreshSettings(), clock, rng=random.Random(seed))
    async with store:
        await clock.settle()
        if store.current() is None:
            raise RuntimeError("no token before the outage")
        endorse.refusing = True
        await clock.advance(OUTAGE_SECONDS)
        if store.current() is not None:
            raise RuntimeError("the token outlived the outage: not the scenario")
        back = clock.monotonic()
        endorse.refusing = False
        await clock.advance(AFTER_SECONDS)
    after = [t for t in endorse.successes if t >= back]
    return after[0] - back if after else float("inf")
