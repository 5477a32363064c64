"""Credentials for a named profile: from the cache while good, else refreshed once.

Shared by ``credential-process`` and ``credentials --profile``: any number of a user's runs
for one profile that miss the cache at once (parallel AWS CLI commands, a shell) refresh
it once. The others wait on the profile's lock, no longer than their own deadlines (the
gateway session plus the exchange call), then find the fresh entry.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from endorse_ble.central.clock_skew import clock_advice
from endorse_ble.central.credential_cache import CredentialCache
from endorse_ble.central.credential_flow import TokenSource, obtain
from endorse_ble.central.credentials import ExchangeResult
from endorse_ble.central.errors import BleReadError, CredentialsFileError, ReadFailure
from endorse_ble.central.failures import explain
from endorse_ble.central.file_lock import LockTimeout
from endorse_ble.central.gateway_session import gateway_deadline
from endorse_ble.central.progress import Progress
from endorse_ble.central.settings import Settings


@dataclass(frozen=True, repr=False)
class Fetched:
    """A fresh exchange result and the ``iat`` of the token it came from."""

    result: ExchangeResult
    token_iat: int | None


def fetch(
    settings: Settings,
    progress: Progress,
    token_source: TokenSource | None = None,
    check_target: Callable[[], object] | None = None,
) -> Fetched:
    """The whole flow, remembering the fresh token's ``iat`` for clock checks."""
    result, fresh = obtain(settings, progress, token_source, check_target)
    return Fetched(result, fresh.issued_at)


def cached_or_refreshed(
    settings: Settings,
    cache: CredentialCache,
    profile: str,
    skew: float,
    refresh: Callable[[], Fetched],
) -> tuple[dict[str, str], Fetched | None]:
    """The credential_process fields of ``profile``, and the fetch if one was made."""
    fields = cache.load(profile, skew)
    if fields is not None:
        return fields, None
    wait = gateway_deadline(settings.gateway) + settings.exchange_timeout
    lock = cache.lock(profile)
    try:
        lock.acquire(time.monotonic() + wait)
    except LockTimeout:
        raise BleReadError(
            ReadFailure.DEADLINE,
            f"another run refreshing profile {profile!r} did not finish within {wait:g} s",
        ) from None
    try:
        # Another run may have refreshed while we waited for the lock.
        fields = cache.load(profile, skew)
        if fields is not None:
            return fields, None
        fetched = refresh()
        credentials = fetched.result.credentials
        fields = credentials.process_fields()
        _store(cache, profile, fields)
        if credentials.expires_at - skew <= time.time():
            advice = clock_advice(time.time(), fetched.token_iat, None) or "lower --skew"
            print(
                f"endorse-central: warning: the credentials last less than --skew {skew:g} s, "
                f"so every run will read the gateway: {advice}",
                file=sys.stderr,
            )
        return fields, fetched
    finally:
        lock.release()


def _store(cache: CredentialCache, profile: str, fields: dict[str, str]) -> None:
    # Credentials in hand are still worth using when the cache cannot be written.
    try:
        cache.store(profile, fields)
    except OSError as exc:
        failure = explain(CredentialsFileError(cache.path(profile), exc.strerror or str(exc)))
        print(f"endorse-central: warning: not cached: {failure.message}", file=sys.stderr)
