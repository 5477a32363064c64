"""Fetch public keys over HTTP(S) with requests: the exchange's only requests import."""

from __future__ import annotations

import logging

import requests

from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.tokenlink.bounded_read import BoundedReadError, ReadRefusal, read_bounded

log = logging.getLogger(__name__)

# S3 answers 403 AccessDenied, not 404, for a missing object in a bucket that does not
# allow listing (Amazon S3 docs, "HTTP status codes"); both mean "no such key" here.
_NOT_FOUND = {403, 404}
_CHUNK = 4096


class HttpKeyFetcher:
    """A :class:`~endorse_ble.exchange.keystore.KeyFetcher` over requests, with a timeout and
    a size cap, the body read within the timeout in all.

    Redirects are not followed (the key must come from the configured prefix), and the
    environment's proxies and .netrc are ignored (no credentials are ever sent).
    """

    def __init__(self, timeout_seconds: float) -> None:
        self._timeout = timeout_seconds
        self._session: requests.Session | None = None

    def _get_session(self) -> requests.Session:
        if self._session is None:
            session = requests.Session()
            session.trust_env = False
            self._session = session
        return self._session

    def close(self) -> None:
        """Close pooled connections."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def fetch(self, url: str, max_bytes: int) -> bytes | None:
        """GET ``url``; None for 403/404, the body for 200, an error for anything else."""
        try:
            with self._get_session().get(
                url, timeout=self._timeout, stream=True, allow_redirects=False
            ) as response:
                if response.status_code in _NOT_FOUND:
                    return None
                if response.status_code != 200:
                    log.warning("keystore answered HTTP %s for %s", response.status_code, url)
                    raise ExchangeError(
                        ErrorCode.KEYSTORE_UNAVAILABLE,
                        f"the keystore answered HTTP {response.status_code}",
                    )
                return read_bounded(
                    response.iter_content(_CHUNK), max_bytes, timeout_seconds=self._timeout
                )
        except BoundedReadError as exc:
            if exc.reason is ReadRefusal.TOO_LARGE:
                raise ExchangeError(
                    ErrorCode.KEYSTORE_BAD_KEY, f"the keystore key exceeds {max_bytes} bytes"
                ) from None
            log.warning("keystore answer for %s took over %g s", url, self._timeout)
            raise ExchangeError(
                ErrorCode.KEYSTORE_UNAVAILABLE, "the keystore answered too slowly"
            ) from None
        except requests.RequestException as exc:
            log.warning("keystore fetch failed for %s: %s", url, type(exc).__name__)
            raise ExchangeError(
                ErrorCode.KEYSTORE_UNAVAILABLE, "the keystore could not be reached"
            ) from None
