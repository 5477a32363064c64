"""Exchange verifier cost against raw PyJWT, and keystore fetches with a warm cache.

    python -m bench.exchange_verify [--tokens N] [--rounds R]

Measures, in one run on the same tokens: verifications per second of
``endorse_ble.exchange.verifier.TokenVerifier``
(kid check, cached key, RS256, Endorse claims) and of a
bare ``jwt.decode(token, key, algorithms=["RS256"], audience=...)``; prints their ratio
(target >= 0.8) as the median over alternating batches of 50 tokens. Then counts the HTTP
requests the Endorse simulator's keystore receives during 10,000 verifications with one kid
through a fresh cache (target: exactly 1).
Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import jwt

from bench import iterations, verdict
from endorse_ble.exchange.config import KeystoreSettings, TokenSettings
from endorse_ble.exchange.keystore import KeyStore
from endorse_ble.exchange.keystore_http import HttpKeyFetcher
from endorse_ble.exchange.verifier import TokenVerifier
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.endorse_keys import AUDIENCE, SimIdentity

RATIO_TARGET = 0.8
FETCH_VERIFICATIONS = iterations(10_000, 500)
_BATCH = 50


def _seconds(run: Callable[[str], object], tokens: list[str]) -> float:
    start = time.perf_counter()
    for token in tokens:
        run(token)
    return time.perf_counter() - start


def _compare(
    ours: Callable[[str], object], raw: Callable[[str], object], tokens: list[str], rounds: int
) -> tuple[float, float, float]:
    """(ours/s, raw/s, ratio): small batches alternate so load from other processes hits
    both alike; the ratio is the median of the per-batch ratios."""
    ratios: list[float] = []
    total_ours = total_raw = 0.0
    for _ in range(rounds):
        for i in range(0, len(tokens), _BATCH):
            batch = tokens[i : i + _BATCH]
            t_raw = _seconds(raw, batch)
            t_ours = _seconds(ours, batch)
            total_raw += t_raw
            total_ours += t_ours
            ratios.append(t_raw / t_ours)
    count = rounds * len(tokens)
    return count / total_ours, count / total_raw, statistics.median(ratios)


def main(argv: list[str] | None = None) -> int:
    """Run both measurements; return 0 when both targets are met."""
    parser = argparse.ArgumentParser(prog="python -m bench.exchange_verify")
    parser.add_argument(
        "--tokens", type=int, default=iterations(500, 100), help="distinct tokens to mint"
    )
    parser.add_argument(
        "--rounds", type=int, default=iterations(5, 1), help="timed passes over the tokens"
    )
    args = parser.parse_args(argv)

    with EndorseSimulator() as sim:
        tokens = [sim.signer.mint(SimIdentity()) for _ in range(args.tokens)]
        fetcher = HttpKeyFetcher(timeout_seconds=5.0)
        try:
            keys = KeyStore(KeystoreSettings(url=sim.keystore_url), fetcher)
            verifier = TokenVerifier(TokenSettings(), keys)
            public_key = keys.get(sim.signer.kid)  # warms the cache: the one fetch

            def raw(token: str) -> object:
                return jwt.decode(token, public_key, algorithms=["RS256"], audience=AUDIENCE)

            _compare(verifier.verify, raw, tokens[:_BATCH], 1)  # warm both paths
            rate_ours, rate_raw, ratio = _compare(verifier.verify, raw, tokens, args.rounds)

            fresh = KeyStore(KeystoreSettings(url=sim.keystore_url), fetcher)
            counted = TokenVerifier(TokenSettings(), fresh)
            before = sim.keystore_fetches
            for i in range(FETCH_VERIFICATIONS):
                counted.verify(tokens[i % len(tokens)])
            fetches = sim.keystore_fetches - before
        finally:
            fetcher.close()

    print(f"raw jwt.decode:         {rate_raw:9.0f} verifications/s")
    print(f"exchange TokenVerifier: {rate_ours:9.0f} verifications/s")
    print(f"ratio (exchange/raw, median of batches): {ratio:.3f}  (target >= {RATIO_TARGET})")
    print(
        f"keystore fetches for {FETCH_VERIFICATIONS} verifications, one kid: {fetches}  (target 1)"
    )
    ok = ratio >= RATIO_TARGET and fetches == 1
    print("PASS" if ok else "FAIL")
    return verdict(ok)


if __name__ == "__main__":
    sys.exit(main())
