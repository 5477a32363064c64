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


class KeyStore:
    """Resolve a kid to an RSA public key, caching hits and misses.

    Hits and misses live in separate bounded caches, so a stream of unknown kids can never
    evict a good key.
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
        self._keys: OrderedDict[str, tuple[rsa.RSAPublicKey, float]] = OrderedDict()
        self._misses: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        # One lock per kid being fetched, so concurrent misses for one kid fetch once.
        self._fetching: dict[str, threading.Lock] = {}

    def check_kid(self, kid: object) -> str:
        """Validate a kid against the floor and the configured pattern."""
        return check_kid(kid, self._pattern)

    def _lookup(self, kid: str) -> rsa.RSAPublicKey | None:
        """A fresh cached key, None if unknown; raises UNKNOWN_KID on a cached miss."""
        now = self._clock()
        hit = self._keys.get(kid)
        if hit is not None:
            if hit[1] > now:
                return hit[0]
            del self._keys[kid]
        missed_until = self._misses.get(kid)
        if missed_until is not None:
            if missed_until > now:
                raise ExchangeError(ErrorCode.UNKNOWN_KID, "the keystore has no key for this kid")
            del self._misses[kid]
        return None

    def get(self, kid: str) -> rsa.RSAPublicKey:
        """The public key named by ``kid``, from the cache or the keystore."""
        with self._lock:
            # A cached key's kid passed check_kid when it was fetched.
            hit = self._keys.get(kid)
            if hit is not None and hit[1] > self._clock():
                return hit[0]
        kid = self.check_kid(kid)
        with self._lock:
            key = self._lookup(kid)
            if key is not None:
                return key
            kid_lock = self._fetching.setdefault(kid, threading.Lock())
        with kid_lock:
            try:
                with self._lock:
                    key = self._lookup(kid)
                return key if key is not None else self._fetch(kid)
            finally:
                with self._lock:
                    self._fetching.pop(kid, None)

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
                self._misses[kid] = self._clock() + self._settings.negative_cache_seconds
                while len(self._misses) > _MAX_MISSES:
                    self._misses.popitem(last=False)
            raise ExchangeError(ErrorCode.UNKNOWN_KID, "the keystore has no key for this kid")
        key = parse_public_key(pem, self._settings.min_rsa_bits)
        with self._lock:
            self._keys[kid] = (key, self._clock() + self._settings.cache_ttl_seconds)
            while len(self._keys) > self._settings.max_cached_keys:
                self._keys.popitem(last=False)
        return key
