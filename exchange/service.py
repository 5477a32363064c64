"""The exchange API, free of any transport: an :class:`HttpRequest` in, a decision out.

``POST {"token": "<JWT>", "nonce"?: "<string>"}`` (with a ``DPoP`` proof header when key
binding is required) answers 200 with credentials and the SIM's identity, or an error
body ``{"error": <code>, "message": <text>}`` (see docs/exchange-api.md). The WSGI app
(behind the local server, and behind the Lambda adapter) only moves bytes into an
:class:`HttpRequest`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass

from endorse_ble.exchange.audit import ISSUED, Decision
from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.exchange.issuer import CredentialIssuer
from endorse_ble.exchange.key_binding import KeyBindingChecker
from endorse_ble.exchange.policy import AccessPolicy, Grant
from endorse_ble.exchange.replay import ReplayGuard
from endorse_ble.exchange.verifier import TokenVerifier
from endorse_ble.tokenlink.nonce import NonceError, check_nonce
from endorse_ble.tokenlink.redact import describe_secret
from endorse_ble.tokenlink.token import Token

log = logging.getLogger(__name__)


@dataclass(frozen=True, repr=False)
class HttpRequest:
    """One HTTP request as a transport received it: the one model every transport fills.

    ``url`` is where it arrived (scheme, host and path as the client addressed them);
    ``proofs`` holds every ``DPoP`` header value, in order; ``request_id`` names the
    request in the audit line.
    """

    method: str
    body: bytes
    url: str = ""
    proofs: tuple[str, ...] = ()
    request_id: str = ""


@dataclass(frozen=True)
class ApiRequest:
    """A parsed exchange request body."""

    token: str
    nonce: str | None


def parse_request(body: bytes, max_bytes: int) -> ApiRequest:
    """Read the JSON request body, refusing anything oversized or out of shape."""
    if len(body) > max_bytes:
        raise ExchangeError(ErrorCode.REQUEST_TOO_LARGE, f"the body exceeds {max_bytes} bytes")
    try:
        # RFC 8259 section 8.1: JSON between systems is UTF-8 (json.loads would also guess
        # UTF-16 and UTF-32 from bytes).
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        # ValueError: not UTF-8, not JSON, or an integer past Python's int-string limit;
        # RecursionError: thousands of nested brackets exhaust the decoder's stack.
        raise ExchangeError(ErrorCode.MALFORMED_REQUEST, "the body is not UTF-8 JSON") from None
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


def refusal(exc: ExchangeError, token: Token | None = None, grant: Grant | None = None) -> Decision:
    """The decision for a refusal, naming the SIM once its token has verified."""
    return Decision(
        status=int(exc.status),
        body=dict(exc.to_body()),
        outcome=exc.code.value,
        imsi=token.claim.imsi if token else None,
        imei=token.claim.imei if token else None,
        role_arn=grant.role_arn if grant else None,
        laptop=grant.laptop if grant else None,
    )


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
        self.max_body_bytes = max_body_bytes
        # A token stays acceptable until exp + leeway, so its jti must be kept that long.
        self._replay_margin = replay_margin_seconds
        # None: key binding is off and DPoP headers are ignored, exactly as before it existed.
        self._key_binding = key_binding

    def handle(self, request: HttpRequest) -> Decision:
        """Answer one request; never raises, never echoes the token."""
        if request.method.upper() != "POST":
            return refusal(ExchangeError(ErrorCode.METHOD_NOT_ALLOWED, "use POST with a JSON body"))
        described = "-"
        token: Token | None = None
        grant: Grant | None = None
        try:
            parsed = parse_request(request.body, self.max_body_bytes)
            described = describe_secret(parsed.token)
            token = self._verifier.verify(parsed.token)
            grant = self._policy.decide(token, parsed.nonce)
            if self._key_binding is not None:
                laptop = self._key_binding.check(
                    request.proofs,
                    method=request.method,
                    url=request.url,
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
            return refusal(exc, token, grant)
        except Exception:
            # A bug, not a refusal: keep serving, log the traceback, tell the caller little.
            log.exception("internal error while exchanging token %s", described)
            return refusal(
                ExchangeError(ErrorCode.INTERNAL_ERROR, "internal error; see the exchange log"),
                token,
                grant,
            )
        log.info(
            "issued credentials %s for imsi=%s jkt=%s role=%s (token %s)",
            credentials.access_key_id,
            grant.imsi,
            grant.laptop or "-",
            grant.role_arn,
            described,
        )
        return Decision(
            status=200,
            body={
                "credentials": credentials.to_json(),
                "subject": {"imsi": grant.imsi, "imei": grant.imei},
            },
            outcome=ISSUED,
            imsi=grant.imsi,
            imei=grant.imei,
            role_arn=grant.role_arn,
            laptop=grant.laptop,
        )
