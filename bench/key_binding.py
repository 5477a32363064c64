"""The exchange's rate with key binding on, against raw PyJWT RS256 + ES256 back to back.

    python -m bench.key_binding [--requests N] [--rounds R]

Measures, in one run on the same requests: requests per second of
``ExchangeService.handle`` with ``token.require_key_binding`` (JSON body, kid check, cached
RSA key, RS256, Endorse claims, nonce and allowlist policy, the DPoP proof: header, jwk,
ES256 signature, htm/htu/ath/iat, enrolment, nonce prefix, proof and token replay claims in
the memory store) and of a bare ``jwt.decode(token, rsa_key, algorithms=["RS256"], ...)``
followed by ``jwt.decode(proof, ec_key, algorithms=["ES256"])``; prints their ratio
(target >= 0.8) as the median over alternating batches of 50 requests. STS is left out
(a stand-in issuer answers at once): its network round trip is not verification and would
swamp both rates. Every request is fresh (its own token and proof), since the exchange
accepts each only once. Exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime

import jwt

from bench import iterations, verdict
from endorse_ble.central.key_proof import make_proof
from endorse_ble.central.laptop_key import LaptopKey
from endorse_ble.exchange.allowlist import ConfigAllowlist
from endorse_ble.exchange.config import AllowEntry, KeystoreSettings, TokenSettings
from endorse_ble.exchange.issuer import Credentials
from endorse_ble.exchange.key_binding import KeyBindingChecker
from endorse_ble.exchange.keystore import KeyStore
from endorse_ble.exchange.keystore_http import HttpKeyFetcher
from endorse_ble.exchange.policy import AccessPolicy, Grant
from endorse_ble.exchange.replay import MemoryReplayGuard
from endorse_ble.exchange.service import ExchangeService, HttpRequest
from endorse_ble.exchange.verifier import TokenVerifier
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.endorse_keys import AUDIENCE, SimIdentity
from endorse_ble.tokenlink.nonce import bound_nonce

RATIO_TARGET = 0.8
URL = "https://exchange.example/"
ROLE = "arn:aws:iam::123456789012:role/endorse-device"
_BATCH = 50


class InstantIssuer:
    """Answers every grant with the same credentials: STS is not what is measured."""

    def __init__(self) -> None:
        self._credentials = Credentials(
            "ASIABENCHBENCHBENCH1", "secret", "session", datetime(2030, 1, 1, tzinfo=UTC)
        )

    def issue(self, grant: Grant) -> Credentials:
        return self._credentials


def _mint(sim: EndorseSimulator, key: LaptopKey, count: int) -> list[HttpRequest]:
    identity = SimIdentity()
    requests = []
    for _ in range(count):
        nonce = bound_nonce(key.thumbprint)
        token = sim.signer.mint(identity, request_parameters={"nonce": nonce})
        body = json.dumps({"token": token, "nonce": nonce}).encode()
        requests.append(HttpRequest("POST", body, URL, (make_proof(key, "POST", URL, token),)))
    return requests


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; return 0 when the target is met."""
    parser = argparse.ArgumentParser(prog="python -m bench.key_binding")
    parser.add_argument(
        "--requests", type=int, default=iterations(400, 100), help="requests per round"
    )
    parser.add_argument("--rounds", type=int, default=iterations(3, 1), help="timed passes")
    args = parser.parse_args(argv)

    key = LaptopKey.generate()
    proof_key = key.private_key.public_key()
    identity = SimIdentity()
    with EndorseSimulator() as sim:
        fetcher = HttpKeyFetcher(timeout_seconds=5.0)
        try:
            keys = KeyStore(KeystoreSettings(url=sim.keystore_url), fetcher)
            token_key = keys.get(sim.signer.kid)  # warms the cache: the one fetch
            requests = _mint(sim, key, args.requests * args.rounds + _BATCH)
        finally:
            fetcher.close()
        minted_at = time.time()
        clock = lambda: minted_at  # noqa: E731  (requests minted minutes ago stay fresh)
        settings = TokenSettings(require_nonce=True, require_key_binding=True)
        replay = MemoryReplayGuard(len(requests) * 2, clock=clock)
        service = ExchangeService(
            TokenVerifier(settings, keys, clock=clock),
            AccessPolicy(
                ConfigAllowlist(
                    (AllowEntry(identity.imsi, identity.imei, laptops=(key.thumbprint,)),)
                ),
                ROLE,
                require_nonce=True,
            ),
            replay,
            InstantIssuer(),
            max_body_bytes=16384,
            replay_margin_seconds=settings.leeway_seconds,
            key_binding=KeyBindingChecker(replay, settings.leeway_seconds, clock=clock),
        )

        # The baseline gets the token and the proof ready-made (no body parsing).
        pairs = [(json.loads(r.body)["token"], r.proofs[0]) for r in requests]

        def raw(token: str, proof: str) -> None:
            jwt.decode(token, token_key, algorithms=["RS256"], audience=AUDIENCE)
            jwt.decode(proof, proof_key, algorithms=["ES256"])

        def ours(request: HttpRequest) -> None:
            decision = service.handle(request)
            if decision.status != 200:
                raise SystemExit(f"the exchange refused a bench request: {decision.body}")

        # Warm both paths on requests outside the timed set.
        for request, pair in zip(requests[:_BATCH], pairs[:_BATCH], strict=True):
            raw(*pair)
            ours(request)
        timed = requests[_BATCH:]
        timed_pairs = pairs[_BATCH:]
        ratios: list[float] = []
        total_raw = total_ours = 0.0
        for i in range(0, len(timed), _BATCH):
            start = time.perf_counter()
            for token, proof in timed_pairs[i : i + _BATCH]:
                raw(token, proof)
            t_raw = time.perf_counter() - start
            start = time.perf_counter()
            for request in timed[i : i + _BATCH]:
                ours(request)
            t_ours = time.perf_counter() - start
            total_raw += t_raw
            total_ours += t_ours
            ratios.append(t_raw / t_ours)

    ratio = statistics.median(ratios)
    print(f"raw RS256 + ES256 jwt.decode:     {len(timed) / total_raw:9.0f} requests/s")
    print(f"exchange, key binding on (no STS): {len(timed) / total_ours:9.0f} requests/s")
    print(f"ratio (exchange/raw, median of batches): {ratio:.3f}  (target >= {RATIO_TARGET})")
    ok = ratio >= RATIO_TARGET
    print("PASS" if ok else "FAIL")
    return verdict(ok)


if __name__ == "__main__":
    sys.exit(main())
