"""Gateway -> fresh token -> exchange -> credentials: the flow behind ``credentials`` and
``credential-process``.

The token comes from a :class:`TokenSource`; the real one asks the gateway over BLE for a
token bound to a new nonce (central.ble_reader), and the nonce goes to the exchange with
it so that a replayed or foreign token is refused there. When the profile has an enrolled
laptop key, the nonce names the key and each exchange request carries a proof signed by it.
Each fresh token costs a request over the gateway's metered cellular link and a share of
its budget, so everything that can fail without one (the exchange URL, the exchange being
up, the place the credentials go) is checked first.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from endorse_ble.central.clock_skew import clock_advice
from endorse_ble.central.credentials import ExchangeResult
from endorse_ble.central.errors import ExchangeClientError
from endorse_ble.central.exchange_client import ExchangeClient
from endorse_ble.central.gateway_session import with_gateway
from endorse_ble.central.laptop_key import LaptopKey, key_name, load_key
from endorse_ble.central.progress import Progress
from endorse_ble.central.settings import Settings
from endorse_ble.central.user_config import GatewayConfig
from endorse_ble.tokenlink.nonce import challenge_nonce

if TYPE_CHECKING:
    from endorse_ble.central.ble_reader import GatewaySession, TokenRead

#: Refusals whose cause is often a wrong clock somewhere (docs/exchange-api.md).
_CLOCK_CODES = frozenset({"token_expired", "token_not_yet_valid", "token_too_old"})


@dataclass(frozen=True, repr=False)
class FreshToken:
    """A token and the nonce it answers (None when the gateway served a plain token)."""

    token: str
    nonce: str | None

    @property
    def issued_at(self) -> int | None:
        """The token's ``iat`` (Endorse's clock when it signed), None if unreadable."""
        from endorse_ble.tokenlink.errors import EndorseBleError
        from endorse_ble.tokenlink.token import parse_token

        try:
            return parse_token(self.token).issued_at
        except EndorseBleError:
            return None


#: Where the flow gets its token: the gateway in production, a signer in tests.
TokenSource = Callable[[], FreshToken]


def gateway_token_source(
    gateway: GatewayConfig, progress: Progress, thumbprint: str | None = None
) -> TokenSource:
    """Read a fresh, nonce-bound token from the gateway over BLE; the nonce names the laptop
    key with ``thumbprint`` when there is one."""

    def source() -> FreshToken:
        nonce = challenge_nonce(thumbprint)

        async def read(session: GatewaySession) -> TokenRead:
            return await session.challenge(nonce)

        result = with_gateway(gateway, progress, read, "asking the gateway for a fresh token...")
        return FreshToken(result.token, result.nonce)

    return source


def exchange_token(client: ExchangeClient, fresh: FreshToken) -> ExchangeResult:
    """Trade ``fresh`` at the exchange: the one place the exchange call is made."""
    try:
        return client.exchange(fresh.token, fresh.nonce)
    except ExchangeClientError as exc:
        if exc.code in _CLOCK_CODES:
            exc.clock_advice = clock_advice(time.time(), fresh.issued_at, client.server_date)
        raise


def obtain_credentials(
    settings: Settings,
    progress: Progress,
    token_source: TokenSource | None = None,
    check_target: Callable[[], object] | None = None,
) -> ExchangeResult:
    """Run the whole flow; raises BleReadError, ExchangeClientError, UsageError,
    CredentialsFileError (from ``check_target``, which runs before the token is fetched)."""
    return obtain(settings, progress, token_source, check_target)[0]


def obtain(
    settings: Settings,
    progress: Progress,
    token_source: TokenSource | None = None,
    check_target: Callable[[], object] | None = None,
) -> tuple[ExchangeResult, FreshToken]:
    """:func:`obtain_credentials`, with the fresh token the credentials came from."""
    url = settings.require_exchange_url()
    if check_target is not None:
        check_target()
    key = load_key(key_name(settings.profile))
    thumbprint = key.thumbprint if key is not None else None
    with ExchangeClient(url, settings.exchange_timeout, _prover(key)) as client:
        with progress.step("checking the exchange...", timing="check"):
            client.check_reachable()
        fresh = (token_source or gateway_token_source(settings.gateway, progress, thumbprint))()
        with progress.step("exchanging the token for AWS credentials...", timing="exchange"):
            return exchange_token(client, fresh), fresh


def _prover(key: LaptopKey | None) -> Callable[[str, str, str], str] | None:
    if key is None:
        return None
    # PyJWT and its crypto load only for a laptop with an enrolled key.
    from endorse_ble.central.key_proof import make_proof

    return functools.partial(make_proof, key)
