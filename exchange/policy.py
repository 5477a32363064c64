"""Who may have credentials: the IMSI allowlist, IMEI binding, the nonce challenge and the
laptop keys enrolled for each SIM.

Pure: it looks only at a verified token and the request's nonce.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from endorse_ble.exchange.allowlist import AllowlistSource
from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.tokenlink.token import Token


@dataclass(frozen=True)
class Grant:
    """What a verified, allowed token is entitled to: a role, for a named SIM.

    ``laptops`` are the key thumbprints enrolled for the SIM (for key binding); ``laptop``
    is the one whose proof came with the request, once checked.
    """

    imsi: str
    imei: str | None
    role_arn: str
    laptops: tuple[str, ...] = ()
    laptop: str | None = None


class AccessPolicy:
    """Decide whether a verified token may have credentials, and under which role."""

    def __init__(
        self,
        allowlist: AllowlistSource,
        default_role_arn: str | None,
        require_nonce: bool,
    ) -> None:
        self._allowlist = allowlist
        self._default_role_arn = default_role_arn
        self._require_nonce = require_nonce

    def decide(self, token: Token, request_nonce: str | None) -> Grant:
        """Return the grant for ``token``, or raise ExchangeError (403) saying why not."""
        # The nonce proves freshness: the gateway fetched this token after the challenge.
        # A request that names a nonce is always held to it, even when not required.
        if request_nonce is None:
            if self._require_nonce:
                raise ExchangeError(ErrorCode.NONCE_REQUIRED, "this exchange requires a nonce")
        else:
            signed = token.nonce
            # surrogatepass: a signed claim may hold a lone surrogate (JSON allows "\ud800").
            if signed is None or not hmac.compare_digest(
                signed.encode("utf-8", "surrogatepass"),
                request_nonce.encode("utf-8", "surrogatepass"),
            ):
                raise ExchangeError(
                    ErrorCode.NONCE_MISMATCH, "the token does not carry the request's nonce"
                )
        entry = self._allowlist.lookup(token.claim.imsi)
        if entry is None or not entry.enabled:
            raise ExchangeError(ErrorCode.IMSI_NOT_ALLOWED, "this SIM is not allowed")
        # A SIM moved into another device keeps its IMSI but not its IMEI.
        if entry.imei is not None and token.claim.imei != entry.imei:
            raise ExchangeError(ErrorCode.IMEI_MISMATCH, "this SIM is not allowed in this device")
        role = entry.role_arn or self._default_role_arn
        if role is None:  # config validation rules this out; refuse rather than guess
            raise ExchangeError(ErrorCode.MISCONFIGURED, "no role for this SIM")
        return Grant(imsi=entry.imsi, imei=token.claim.imei, role_arn=role, laptops=entry.laptops)
