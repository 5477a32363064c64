"""Public keys by kid: a strict kid check, a bounded cache, and a rate-limited fetch.

The 2016 reference verifier built the key URL by concatenating the keystore URL and the
token header's kid, so an attacker's kid could point anywhere (endorse-facts.md). Here the
kid must fullmatch a strict pattern, and also pass a fixed floor of forbidden characters
that no configured pattern can relax, before it is appended to the configured prefix.

Keys are cached for a TTL, misses are cached for a shorter time, and fetches are limited by
a token bucket so a flood of tokens with random kids cannot turn the exchange into an
amplifier against the keystore. The HTTP fetch itself sits behind :class:`KeyFetcher`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import rsa

from endorse_ble.exchange.config import KeystoreSettings
from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.tokenlink.endorse import is_safe_kid
from endorse_ble.tokenlink.rsa_key import KeyLoadError, load_rsa_public_key

log = logging.getLogger(__name__)


class KeyFetcher(Protocol):
    """Fetch the bytes at a keystore URL."""

    def fetch(self, url: str, max_bytes: int) -> bytes | None:
        """Return the body, or None when the keystore says the key does not exist.

        Raises ExchangeError(KEYSTORE_UNAVAILABLE) for anything else (network, 5xx, a body
        longer than ``max_bytes``).
        """
        ...


class TokenBucket:
    """A token bucket (``rate`` tokens per second, at most ``capacity``), thread-safe."""

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float]) -> None:
        self._rate = rate
        self._capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._stamp = clock()
        self._lock = threading.Lock()

    def try_take(self) -> bool:
        """Take one token if there is one; False means the caller must not proceed."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


def check_kid(kid: object, pattern: re.Pattern[str]) -> str:
    """Return ``kid`` if it is safe to append to the keystore prefix, else refuse it."""
    if not isinstance(kid, str) or not kid:
        raise ExchangeError(ErrorCode.INVALID_KID, "the token header has no usable kid")
    if not is_safe_kid(kid, pattern):
        raise ExchangeError(ErrorCode.INVALID_KID, "the token's kid is not an Endorse key id")
    return kid


def parse_public_key(pem: bytes, min_bits: int) -> rsa.RSAPublicKey:
    """The keystore's PEM as an RSA key of at least ``min_bits``, or KEYSTORE_BAD_KEY."""
    try:
        return load_rsa_public_key(pem, min_bits)
    except KeyLoadError as exc:
        raise ExchangeError(ErrorCode.KEYSTORE_BAD_KEY, f"keystore: {exc}") from None


_MAX_MISSES = 1024


class _Flight:
    """One keystore fetch for one kid; its outcome, key or error, is shared by every waiter.

    ``deadline`` (on the store's clock) is when waiters stop waiting: a fetch that overruns
    is abandoned, not awaited, and while it still runs no second fetch for the kid starts.
    A failure is kept until the deadline and answers every request for the kid till then.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.done = threading.Event()
        self.key: rsa.RSAPublicKey | None = None
        self.error: ExchangeError | None = None


@dataclass
class _Cached:
    key: rsa.RSAPublicKey
    fresh_until: float


class KeyStore:
    """Resolve a kid to an RSA public key, caching hits and misses.

    Hits and misses live in separate bounded caches, so a stream of unknown kids can never
    evict a good key. At most one fetch per kid is in flight; every request for that kid
    shares its outcome. Past its TTL a key is still served for ``max_stale_seconds`` while
    a background fetch refreshes it (stale-while-revalidate), and keeps being served if
    that fetch fails (stale-if-error). Endorse signs every device's token with one kid, so
    a slow keystore at expiry must not stall the fleet.
    """

    def __init__(
        self,
        settings: KeystoreSettings,
        fetcher: KeyFetcher,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._fetcher = fetcher
        self._clock = clock
        self._pattern = re.compile(settings.kid_pattern)
        self._bucket = TokenBucket(
            settings.fetches_per_minute / 60.0, float(settings.fetch_burst), clock
        )
        self._keys: OrderedDict[str, _Cached] = OrderedDict()
        self._misses: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}

    def check_kid(self, kid: object) -> str:
        """Validate a kid against the floor and the configured pattern."""
        return check_kid(kid, self._pattern)

    def fetches_in_flight(self) -> int:
        """How many keystore fetches are running (for tests and diagnostics)."""
        with self._lock:
            return sum(not f.done.is_set() for f in self._flights.values())

    def wait_for_fetches(self, timeout: float) -> bool:
        """Wait until the fetches now in flight have ended; False if one is still running."""
        with self._lock:
            flights = list(self._flights.values())
        deadline = time.monotonic() + timeout
        return all(f.done.wait(max(0.0, deadline - time.monotonic())) for f in flights)

    def _cached(self, kid: str, now: float) -> rsa.RSAPublicKey | None:
        """A usable cached key, starting a background refresh when it is stale.

        Called with the lock held. Raises UNKNOWN_KID on a cached miss.
        """
        hit = self._keys.get(kid)
        if hit is not None:
            if hit.fresh_until > now:
                return hit.key
            if hit.fresh_until + self._settings.max_stale_seconds > now:
                self._flight(kid, now)
                return hit.key
            del self._keys[kid]
        missed_until = self._misses.get(kid)
        if missed_until is not None:
            if missed_until > now:
                raise ExchangeError(ErrorCode.UNKNOWN_KID, "the keystore has no key for this kid")
            del self._misses[kid]
        return None

    def get(self, kid: str) -> rsa.RSAPublicKey:
        """The public key named by ``kid``, from the cache or the keystore.

        Waits for the keystore at most until the one fetch in flight reaches its deadline.
        """
        with self._lock:
            # A cached key's kid passed check_kid when it was fetched.
            hit = self._keys.get(kid)
            if hit is not None and hit.fresh_until > self._clock():
                return hit.key
        kid = self.check_kid(kid)
        with self._lock:
            now = self._clock()
            key = self._cached(kid, now)
            if key is not None:
                return key
            flight = self._flight(kid, now)
        flight.done.wait(max(0.0, flight.deadline - self._clock()))
        if flight.key is not None:
            return flight.key
        if flight.error is not None:
            raise flight.error
        log.warning("keystore fetch for kid %s overran its deadline; not waiting", kid)
        raise ExchangeError(ErrorCode.KEYSTORE_UNAVAILABLE, "the keystore did not answer in time")

    def _flight(self, kid: str, now: float) -> _Flight:
        """The fetch in flight for ``kid``, started if there is none (lock held)."""
        flight = self._flights.get(kid)
        # A failed fetch stands for the rest of its window: one keystore fetch per kid per
        # timeout, however many requests arrive meanwhile.
        if flight is None or (flight.done.is_set() and now >= flight.deadline):
            flight = _Flight(now + self._settings.timeout_seconds)
            self._flights[kid] = flight
            threading.Thread(
                target=self._run, args=(kid, flight), name=f"keystore-{kid[:24]}", daemon=True
            ).start()
        return flight

    def _run(self, kid: str, flight: _Flight) -> None:
        try:
            flight.key = self._fetch(kid)
        except ExchangeError as exc:
            flight.error = exc
        except Exception:
            # A bug in a fetcher must not leave the kid's waiters hanging.
            log.exception("keystore fetch for kid %s failed unexpectedly", kid)
            flight.error = ExchangeError(
                ErrorCode.KEYSTORE_UNAVAILABLE, "the keystore could not be reached"
            )
        finally:
            with self._lock:
                kept = flight.error is not None and flight.error.code is not ErrorCode.UNKNOWN_KID
                if not kept and self._flights.get(kid) is flight:
                    del self._flights[kid]
                flight.done.set()

    def _fetch(self, kid: str) -> rsa.RSAPublicKey:
        if not self._bucket.try_take():
            log.warning("keystore fetch for kid %s refused by the rate limit", kid)
            raise ExchangeError(
                ErrorCode.KEYSTORE_RATE_LIMITED, "too many key fetches; try again later"
            )
        url = self._settings.url + kid
        log.info("fetching public key %s", url)
        pem = self._fetcher.fetch(url, self._settings.max_pem_bytes)
        if pem is None:
            log.warning("keystore has no key for kid %s", kid)
            with self._lock:
                # The keystore withdrew the key: a stale copy must not outlive that.
                self._keys.pop(kid, None)
                self._misses[kid] = self._clock() + self._settings.negative_cache_seconds
                while len(self._misses) > _MAX_MISSES:
                    self._misses.popitem(last=False)
            raise ExchangeError(ErrorCode.UNKNOWN_KID, "the keystore has no key for this kid")
        key = parse_public_key(pem, self._settings.min_rsa_bits)
        with self._lock:
            self._keys[kid] = _Cached(key, self._clock() + self._settings.cache_ttl_seconds)
            self._keys.move_to_end(kid)
            while len(self._keys) > self._settings.max_cached_keys:
                self._keys.popitem(last=False)
        return key
