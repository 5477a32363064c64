"""Gateway -> fresh token -> exchange -> credentials: the flow behind ``credentials`` and
``credential-process``.

The token comes from a :class:`TokenSource`; the real one asks the gateway over BLE for a
token bound to a new nonce (central.ble_reader), and the nonce goes to the exchange with
it so that a replayed or foreign token is refused there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from endorse_ble.central.credentials import ExchangeResult
from endorse_ble.central.exchange_client import ExchangeClient
from endorse_ble.central.gateway_session import with_gateway
from endorse_ble.central.progress import Progress
from endorse_ble.central.settings import Settings
from endorse_ble.central.user_config import GatewayConfig

if TYPE_CHECKING:
    from endorse_ble.central.ble_reader import GatewaySession, TokenRead


@dataclass(frozen=True, repr=False)
class FreshToken:
    """A token and the nonce it answers (None when the gateway served a plain token)."""

    token: str
    nonce: str | None


#: Where the flow gets its token: the gateway in production, a signer in tests.
TokenSource = Callable[[], FreshToken]


def gateway_token_source(gateway: GatewayConfig, progress: Progress) -> TokenSource:
    """Read a fresh, nonce-bound token from the gateway over BLE."""

    async def read(session: GatewaySession) -> TokenRead:
        return await session.read_token(fresh=True)

    def source() -> FreshToken:
        result = with_gateway(gateway, progress, read, "asking the gateway for a fresh token...")
        return FreshToken(result.token, result.nonce)

    return source


def obtain_credentials(
    settings: Settings, progress: Progress, token_source: TokenSource | None = None
) -> ExchangeResult:
    """Run the whole flow; raises BleReadError, ExchangeClientError, UsageError."""
    url = settings.require_exchange_url()
    fresh = (token_source or gateway_token_source(settings.gateway, progress))()
    with (
        progress.step("exchanging the token for AWS credentials...", timing="exchange"),
        ExchangeClient(url, settings.exchange_timeout) as client,
    ):
        return client.exchange(fresh.token, fresh.nonce)
