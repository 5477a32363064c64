"""An in-process stand-in for SORACOM Endorse: a ``TokenSource`` that mints real tokens.

Tests and benchmarks of the token store need the outside world's behaviour (tokens with
a lifetime on the test's clock, nonces copied into ``requestParameters``, outages), not
HTTP. Tokens are RS256-signed by an :class:`~testbed.endorse_keys.EndorseSigner` and parsed
with the real token model, exactly as the HTTP source would return them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from endorse_ble.peripheral.errors import EndorseFetchError, EndorseFetchReason
from endorse_ble.peripheral.ports import Clock
from endorse_ble.testbed.endorse_keys import EndorseSigner, SimIdentity
from endorse_ble.tokenlink.token import Token, parse_token


class EndorseOutage(Exception):
    """What the stand-in raises while it is told to fail (like a timeout or a 5xx)."""


@dataclass
class InProcessEndorse:
    """Mints a token per ``fetch()``; ``fail_next``/``failing`` simulate outages.

    ``call_times`` records the clock's monotonic time of each call. With ``gate`` set, a
    fetch sets ``entered`` and blocks until the gate opens (a slow network).
    ``issued_at_skew`` shifts ``iat``/``exp`` against the clock's wall time (Endorse's
    clock versus the gateway's). ``nonce_override`` makes it sign a different nonce.
    While ``refusing``, every fetch fails as a refused connection (a failure that costs
    no cellular bytes); ``successes`` records the clock's monotonic time of each token.
    """

    signer: EndorseSigner
    clock: Clock
    lifetime: int = 600
    sim: SimIdentity = field(default_factory=SimIdentity)
    failing: bool = False
    fail_next: int = 0
    issued_at_skew: float = 0.0
    nonce_override: str | None = None
    refusing: bool = False
    successes: list[float] = field(default_factory=list)
    calls: list[str | None] = field(default_factory=list)
    call_times: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    gate: threading.Event | None = None
    entered: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fetch(self, nonce: str | None = None) -> Token:
        """Mint a token valid for ``lifetime`` seconds from the clock's wall time now."""
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(timeout=30)
        with self._lock:
            self.calls.append(nonce)
            self.call_times.append(self.clock.monotonic())
            if self.refusing:
                raise EndorseFetchError(
                    EndorseFetchReason.CONNECTION_REFUSED, "connection refused (simulated)"
                )
            if self.failing or self.fail_next > 0:
                self.fail_next = max(0, self.fail_next - 1)
                raise EndorseOutage("endorse unreachable (simulated)")
            signed_nonce = self.nonce_override or nonce
            params = {"nonce": signed_nonce} if signed_nonce is not None else None
            raw = self.signer.mint(
                self.sim,
                lifetime=self.lifetime,
                now=self.clock.wall() + self.issued_at_skew,
                request_parameters=params,
            )
            self.sizes.append(len(raw))
            self.successes.append(self.clock.monotonic())
            return parse_token(raw)
