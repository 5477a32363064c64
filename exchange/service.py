"""The exchange API, free of any transport: a request in, a status and JSON body out.

``POST {"token": "<JWT>", "nonce"?: "<string>"}`` (with a ``DPoP`` proof header when key
binding is required) answers 200 with credentials and the SIM's identity, or an error
body ``{"error": <code>, "message": <text>}`` (see docs/exchange-api.md). The Lambda
handler and the local server only move bytes into an :class:`HttpRequest`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from typing import Any

from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.exchange.issuer import CredentialIssuer
from endorse_ble.exchange.key_binding import KeyBindingChecker
from endorse_ble.exchange.policy import AccessPolicy
from endorse_ble.exchange.replay import ReplayGuard
from endorse_ble.exchange.verifier import TokenVerifier
from endorse_ble.tokenlink.nonce import NonceError, check_nonce
from endorse_ble.tokenlink.redact import describe_secret

log = logging.getLogger(__name__)


@dataclass(frozen=True, repr=False)
class HttpRequest:
    """One HTTP request as a transport received it.

    ``url`` is where it arrived (scheme, host and path as the client addressed them);
    ``proofs`` holds every ``DPoP`` header value, in order.
    """

    method: str
    body: bytes
    url: str = ""
    proofs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiRequest:
    """A parsed exchange request."""

    token: str
    nonce: str | None


def parse_request(body: bytes, max_bytes: int) -> ApiRequest:
    """Read the JSON request body, refusing anything oversized or out of shape."""
    if len(body) > max_bytes:
        raise ExchangeError(ErrorCode.REQUEST_TOO_LARGE, f"the body exceeds {max_bytes} bytes")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        # RecursionError: thousands of nested brackets exhaust the decoder's stack.
        raise ExchangeError(ErrorCode.MALFORMED_REQUEST, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise ExchangeError(ErrorCode.MALFORMED_REQUEST, "the body is not a JSON object")
    token = data.get("token")
    if not isinstance(token, str) or not token:
        raise ExchangeError(ErrorCode.MALFORMED_REQUEST, "'token' must be a non-empty string")
    nonce = data.get("nonce")
    if nonce is not None:
        try:
            nonce = check_nonce(nonce)
        except NonceError as exc:
            raise ExchangeError(ErrorCode.MALFORMED_REQUEST, f"'nonce': {exc}") from None
    return ApiRequest(token=token, nonce=nonce)


def error_response(exc: ExchangeError) -> tuple[int, dict[str, Any]]:
    """The status and body for a refusal."""
    return int(exc.status), exc.to_body()


class ExchangeService:
    """Verify, apply policy, refuse replays, then issue: the whole exchange in one call."""

    def __init__(
        self,
        verifier: TokenVerifier,
        policy: AccessPolicy,
        replay: ReplayGuard,
        issuer: CredentialIssuer,
        *,
        max_body_bytes: int,
        replay_margin_seconds: float,
        key_binding: KeyBindingChecker | None = None,
    ) -> None:
        self._verifier = verifier
        self._policy = policy
        self._replay = replay
        self._issuer = issuer
        self._max_body = max_body_bytes
        # A token stays acceptable until exp + leeway, so its jti must be kept that long.
        self._replay_margin = replay_margin_seconds
        # None: key binding is off and DPoP headers are ignored, exactly as before it existed.
        self._key_binding = key_binding

    def handle(self, http: HttpRequest) -> tuple[int, dict[str, Any]]:
        """Answer one request; never raises, never echoes the token."""
        if http.method.upper() != "POST":
            return error_response(
                ExchangeError(ErrorCode.METHOD_NOT_ALLOWED, "use POST with a JSON body")
            )
        described = "-"
        try:
            request = parse_request(http.body, self._max_body)
            described = describe_secret(request.token)
            token = self._verifier.verify(request.token)
            grant = self._policy.decide(token, request.nonce)
            if self._key_binding is not None:
                laptop = self._key_binding.check(
                    http.proofs,
                    method=http.method,
                    url=http.url,
                    token=token,
                    enrolled=grant.laptops,
                )
                grant = dataclasses.replace(grant, laptop=laptop)
            if token.jwt_id is None:  # the verifier requires jti; never skip the replay check
                raise ExchangeError(ErrorCode.INVALID_CLAIMS, "the token has no jti")
            self._replay.claim(token.jwt_id, token.expires_at + self._replay_margin)
            credentials = self._issuer.issue(grant)
        except ExchangeError as exc:
            log.info("refused token %s: %s (%s)", described, exc.code.value, exc.message)
            return error_response(exc)
        except Exception:
            # A bug, not a refusal: keep serving, log the traceback, tell the caller little.
            log.exception("internal error while exchanging token %s", described)
            return error_response(
                ExchangeError(ErrorCode.INTERNAL_ERROR, "internal error; see the exchange log")
            )
        log.info(
            "issued credentials %s for imsi=%s jkt=%s role=%s (token %s)",
            credentials.access_key_id,
            grant.imsi,
            grant.laptop or "-",
            grant.role_arn,
            described,
        )
        return 200, {
            "credentials": credentials.to_json(),
            "subject": {"imsi": grant.imsi, "imei": grant.imei},
        }
