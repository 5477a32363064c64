"""The keystore cache bounds fetches: TTL, negative cache, token bucket, key checks."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from endorse_ble.exchange.config import KeystoreSettings
from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.exchange.keystore import KeyStore, TokenBucket, parse_public_key
from endorse_ble.testbed.endorse_keys import EndorseSigner, new_kid


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class DictFetcher:
    """A KeyFetcher serving PEMs from a dict and counting calls."""

    def __init__(self, pems: dict[str, bytes]) -> None:
        self.pems = pems
        self.calls = 0

    def fetch(self, url: str, max_bytes: int) -> bytes | None:
        self.calls += 1
        return self.pems.get(url.rsplit("/", 1)[-1])


@pytest.fixture(scope="module")
def signer() -> EndorseSigner:
    """One RSA-2048 key for the module."""
    return EndorseSigner(key_bits=2048)


def settings(**changes: object) -> KeystoreSettings:
    """Keystore settings with a test URL and ``changes``."""
    base: dict[str, object] = {"url": "https://keys.example/"}
    base.update(changes)
    return KeystoreSettings(**base)  # type: ignore[arg-type]


def code_of(store: KeyStore, kid: str) -> ErrorCode:
    """The error code ``store.get(kid)`` raises."""
    with pytest.raises(ExchangeError) as info:
        store.get(kid)
    return info.value.code


def test_caches_a_key_until_its_ttl(signer: EndorseSigner) -> None:
    """A key is fetched once, reused within the TTL and fetched again after it."""
    clock, fetcher = Clock(), DictFetcher({signer.kid: signer.public_pem()})
    store = KeyStore(settings(cache_ttl_seconds=100), fetcher, clock)
    for _ in range(50):
        store.get(signer.kid)
    assert fetcher.calls == 1
    clock.now += 101
    store.get(signer.kid)
    assert fetcher.calls == 2


def test_negative_cache_remembers_a_miss(signer: EndorseSigner) -> None:
    """An unknown kid is asked for once per negative-cache period."""
    clock, fetcher = Clock(), DictFetcher({})
    store = KeyStore(settings(negative_cache_seconds=60), fetcher, clock)
    for _ in range(5):
        assert code_of(store, signer.kid) is ErrorCode.UNKNOWN_KID
    assert fetcher.calls == 1
    clock.now += 61
    fetcher.pems[signer.kid] = signer.public_pem()
    store.get(signer.kid)
    assert fetcher.calls == 2


def test_rate_limit_refuses_a_flood_of_unknown_kids() -> None:
    """Random kids exhaust the bucket; further fetches are refused with 429 until it refills."""
    clock, fetcher = Clock(), DictFetcher({})
    store = KeyStore(settings(fetches_per_minute=6, fetch_burst=3), fetcher, clock)
    codes = [code_of(store, new_kid()) for _ in range(10)]
    assert codes[:3] == [ErrorCode.UNKNOWN_KID] * 3
    assert set(codes[3:]) == {ErrorCode.KEYSTORE_RATE_LIMITED}
    assert fetcher.calls == 3
    clock.now += 10  # 6 per minute: one token per 10 s
    assert code_of(store, new_kid()) is ErrorCode.UNKNOWN_KID
    assert fetcher.calls == 4


def test_misses_never_evict_good_keys(signer: EndorseSigner) -> None:
    """Many unknown kids leave a cached key in place (no refetch)."""
    clock, fetcher = Clock(), DictFetcher({signer.kid: signer.public_pem()})
    store = KeyStore(settings(max_cached_keys=1, fetch_burst=100), fetcher, clock)
    store.get(signer.kid)
    for _ in range(20):
        code_of(store, new_kid())
    store.get(signer.kid)
    assert fetcher.calls == 21


def test_token_bucket_refills_at_its_rate() -> None:
    """A bucket of 2 at 1/s allows 2, then 1 per second."""
    clock = Clock()
    bucket = TokenBucket(rate=1.0, capacity=2, clock=clock)
    assert [bucket.try_take() for _ in range(3)] == [True, True, False]
    clock.now += 1.0
    assert bucket.try_take() and not bucket.try_take()


def _certificate_pem(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "endorse-test")])
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_parses_spki_and_certificates(signer: EndorseSigner) -> None:
    """Both a PEM public key and an X.509 certificate yield the RSA key."""
    expected = signer.private_key.public_key().public_numbers()
    assert parse_public_key(signer.public_pem(), 2048).public_numbers() == expected
    cert = _certificate_pem(signer.private_key)
    assert parse_public_key(cert, 2048).public_numbers() == expected


def _ec_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _small_rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weak key is the point
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize(
    "make_pem",
    [
        lambda: b"not a pem",
        lambda: b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        lambda: b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        pytest.param(_ec_pem, id="ec-key"),
        pytest.param(_small_rsa_pem, id="rsa-1024"),
    ],
)
def test_refuses_keys_that_are_not_strong_rsa(make_pem: Callable[[], bytes]) -> None:
    """Garbage, non-RSA and sub-2048-bit keys are refused as a bad keystore key."""
    with pytest.raises(ExchangeError) as info:
        parse_public_key(make_pem(), 2048)
    assert info.value.code is ErrorCode.KEYSTORE_BAD_KEY


class BlockingFetcher(DictFetcher):
    """A DictFetcher that holds every fetch until released."""

    def __init__(self, pems: dict[str, bytes]) -> None:
        super().__init__(pems)
        self.entered = threading.Event()
        self.release = threading.Event()

    def fetch(self, url: str, max_bytes: int) -> bytes | None:
        self.entered.set()
        assert self.release.wait(10)
        return super().fetch(url, max_bytes)


def test_concurrent_misses_for_one_kid_fetch_once(signer: EndorseSigner) -> None:
    """Eight threads asking for an uncached kid at once cause one fetch."""
    fetcher = BlockingFetcher({signer.kid: signer.public_pem()})
    store = KeyStore(settings(), fetcher)
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(store.get(signer.kid))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    assert fetcher.entered.wait(10)
    fetcher.release.set()
    for thread in threads:
        thread.join(10)
    assert len(results) == 8
    assert fetcher.calls == 1


class FailingFetcher(BlockingFetcher):
    """A BlockingFetcher whose fetches fail once released."""

    def fetch(self, url: str, max_bytes: int) -> bytes | None:
        super().fetch(url, max_bytes)
        raise ExchangeError(ErrorCode.KEYSTORE_UNAVAILABLE, "down")


def _ask_concurrently(store: KeyStore, kid: str, count: int) -> list[object]:
    """``count`` threads call ``store.get(kid)``; each result is a key or the ExchangeError."""
    results: list[object] = []

    def ask() -> None:
        try:
            results.append(store.get(kid))
        except ExchangeError as exc:
            results.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def test_a_failed_fetch_is_shared_with_every_waiter(signer: EndorseSigner) -> None:
    """Eight requests waiting on one failing fetch all get its error; one fetch is made."""
    fetcher = FailingFetcher({})
    store = KeyStore(settings(), fetcher)
    results: list[object] = []
    waiting = threading.Thread(
        target=lambda: results.extend(_ask_concurrently(store, signer.kid, 8))
    )
    waiting.start()
    assert fetcher.entered.wait(10)
    fetcher.release.set()
    waiting.join(10)
    assert len(results) == 8
    assert {e.code for e in results if isinstance(e, ExchangeError)} == {
        ErrorCode.KEYSTORE_UNAVAILABLE
    }
    assert all(isinstance(e, ExchangeError) for e in results)
    assert fetcher.calls == 1
    assert store.fetches_in_flight() == 0


def test_a_fetch_past_its_deadline_is_abandoned_not_repeated(signer: EndorseSigner) -> None:
    """Waiters give up at the fetch's deadline; while it still runs nobody starts another."""
    fetcher = BlockingFetcher({signer.kid: signer.public_pem()})
    store = KeyStore(settings(timeout_seconds=0.2), fetcher)
    try:
        results = _ask_concurrently(store, signer.kid, 4)
        assert len(results) == 4
        assert [e.code for e in results if isinstance(e, ExchangeError)] == [
            ErrorCode.KEYSTORE_UNAVAILABLE
        ] * 4
        assert code_of(store, signer.kid) is ErrorCode.KEYSTORE_UNAVAILABLE
        assert fetcher.calls == 0 and store.fetches_in_flight() == 1
    finally:
        fetcher.release.set()
    # The late answer still fills the cache for the next request.
    assert store.wait_for_fetches(10)
    store.get(signer.kid)
    assert fetcher.calls == 1


def test_stale_key_is_served_while_refreshing_and_if_the_refresh_fails(
    signer: EndorseSigner,
) -> None:
    """Past its TTL, within max_stale_seconds, the old key answers at once; a failed
    refresh keeps it; past the bound the key is gone and the failure is the answer."""
    clock = Clock()
    fetcher = FailingFetcher({})
    good = DictFetcher({signer.kid: signer.public_pem()})
    store = KeyStore(
        settings(cache_ttl_seconds=100, max_stale_seconds=50, fetch_burst=10), good, clock
    )
    key = store.get(signer.kid)
    store._fetcher = fetcher  # the keystore starts failing
    clock.now += 120
    assert store.get(signer.kid) is key  # served stale; the refresh fails in the background
    assert fetcher.entered.wait(10)
    fetcher.release.set()
    assert store.wait_for_fetches(10)
    assert store.get(signer.kid) is key  # stale-if-error
    clock.now += 40  # 160 s: past TTL + bound
    assert code_of(store, signer.kid) is ErrorCode.KEYSTORE_UNAVAILABLE


def test_a_withdrawn_key_is_dropped_on_refresh(signer: EndorseSigner) -> None:
    """A refresh answered "no such key" drops the stale key at once."""
    clock, fetcher = Clock(), DictFetcher({signer.kid: signer.public_pem()})
    store = KeyStore(settings(cache_ttl_seconds=100, max_stale_seconds=1000), fetcher, clock)
    store.get(signer.kid)
    fetcher.pems.clear()
    clock.now += 101
    store.get(signer.kid)  # stale answer; refresh sees 404
    assert store.wait_for_fetches(10)
    assert code_of(store, signer.kid) is ErrorCode.UNKNOWN_KID
