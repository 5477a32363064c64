"""The HTTP key fetcher against the Endorse simulator's keystore, faults included."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from endorse_ble.exchange.config import KeystoreSettings, TokenSettings
from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.exchange.keystore import KeyStore
from endorse_ble.exchange.keystore_http import HttpKeyFetcher
from endorse_ble.exchange.verifier import TokenVerifier
from endorse_ble.testbed.endorse.server import EndorseFault, EndorseSimulator
from endorse_ble.testbed.endorse_keys import SimIdentity, new_kid
from endorse_ble.testbed.exchange.pytest_fixtures import closed_port_url


@pytest.fixture
def fetcher() -> Iterator[HttpKeyFetcher]:
    """A fetcher with a short timeout, closed after the test."""
    f = HttpKeyFetcher(timeout_seconds=1.0)
    yield f
    f.close()


def test_fetches_the_pem_and_maps_404_to_none(
    endorse_sim: EndorseSimulator, fetcher: HttpKeyFetcher
) -> None:
    """The served PEM comes back byte for byte; an unknown kid is None."""
    kid = endorse_sim.signer.kid
    assert fetcher.fetch(endorse_sim.keystore_url + kid, 16384) == endorse_sim.public_key_pem(kid)
    assert fetcher.fetch(endorse_sim.keystore_url + new_kid(), 16384) is None


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (EndorseFault.SERVER_ERROR, ErrorCode.KEYSTORE_UNAVAILABLE),
        (EndorseFault.HANG, ErrorCode.KEYSTORE_UNAVAILABLE),
        (EndorseFault.HUGE_BODY, ErrorCode.KEYSTORE_BAD_KEY),
    ],
)
def test_keystore_faults_become_typed_errors(
    endorse_sim: EndorseSimulator, fetcher: HttpKeyFetcher, fault: EndorseFault, code: ErrorCode
) -> None:
    """A failing, hanging or endless keystore answer is refused with a bounded cost."""
    endorse_sim.keystore_fault = fault
    with pytest.raises(ExchangeError) as info:
        fetcher.fetch(endorse_sim.keystore_url + endorse_sim.signer.kid, 16384)
    assert info.value.code is code


def test_unreachable_keystore_is_unavailable(fetcher: HttpKeyFetcher) -> None:
    """Connection refused maps to KEYSTORE_UNAVAILABLE."""
    with pytest.raises(ExchangeError) as info:
        fetcher.fetch(closed_port_url() + "/k/" + new_kid(), 16384)
    assert info.value.code is ErrorCode.KEYSTORE_UNAVAILABLE


def test_truncated_pem_is_a_bad_key(endorse_sim: EndorseSimulator, fetcher: HttpKeyFetcher) -> None:
    """Half a PEM is refused as a bad key, not cached as one."""
    endorse_sim.keystore_fault = EndorseFault.TRUNCATED_JSON
    store = KeyStore(KeystoreSettings(url=endorse_sim.keystore_url), fetcher)
    with pytest.raises(ExchangeError) as info:
        store.get(endorse_sim.signer.kid)
    assert info.value.code is ErrorCode.KEYSTORE_BAD_KEY


def test_many_lookups_fetch_once_over_http(
    endorse_sim: EndorseSimulator, fetcher: HttpKeyFetcher
) -> None:
    """A thousand lookups of one kid make one HTTP request to the keystore."""
    store = KeyStore(KeystoreSettings(url=endorse_sim.keystore_url), fetcher)
    for _ in range(1000):
        store.get(endorse_sim.signer.kid)
    assert endorse_sim.keystore_fetches == 1


def test_key_rotation_fetches_the_new_key_once(
    endorse_sim: EndorseSimulator, fetcher: HttpKeyFetcher
) -> None:
    """After Endorse rotates its key, old and new tokens verify with one fetch per kid."""
    verifier = TokenVerifier(
        TokenSettings(), KeyStore(KeystoreSettings(url=endorse_sim.keystore_url), fetcher)
    )
    old = endorse_sim.signer.mint(SimIdentity())
    endorse_sim.rotate_key()
    new = endorse_sim.signer.mint(SimIdentity())
    for _ in range(5):
        verifier.verify(old)
        verifier.verify(new)
    assert endorse_sim.keystore_fetches == 2


class HandClock:
    """A monotonic clock moved by the test (the key's TTL passes without waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_slow_keystore_at_expiry_stalls_no_request(
    endorse_sim: EndorseSimulator, fetcher: HttpKeyFetcher
) -> None:
    """The key's TTL passes and the keystore holds its answer (as if it took 10 s): 16
    concurrent requests each verify within 1 s with the stale key, and the keystore sees
    exactly one fetch in flight; once it answers, the fresh key is cached."""
    clock = HandClock()
    slow_fetcher = HttpKeyFetcher(timeout_seconds=10.0)
    settings = KeystoreSettings(url=endorse_sim.keystore_url, cache_ttl_seconds=60)
    keys = KeyStore(settings, slow_fetcher, clock)
    verifier = TokenVerifier(TokenSettings(), keys)
    verifier.verify(endorse_sim.signer.mint(SimIdentity()))
    assert endorse_sim.keystore_fetches == 1
    endorse_sim.keystore_fault = EndorseFault.HELD
    clock.now += 61
    tokens = [endorse_sim.signer.mint(SimIdentity()) for _ in range(16)]
    slowest: list[float] = []

    def verify(token: str) -> None:
        start = time.monotonic()
        verifier.verify(token)
        slowest.append(time.monotonic() - start)

    try:
        threads = [threading.Thread(target=verify, args=(t,)) for t in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert len(slowest) == 16
        assert max(slowest) < 1.0
        assert keys.fetches_in_flight() == 1
    finally:
        endorse_sim.release_held()
    assert keys.wait_for_fetches(10)
    assert endorse_sim.keystore_fetches == 2  # the one refresh
    endorse_sim.keystore_fault = EndorseFault.NONE
    verifier.verify(endorse_sim.signer.mint(SimIdentity()))
    assert endorse_sim.keystore_fetches == 2
    slow_fetcher.close()
