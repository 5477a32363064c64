"""One JSON line per exchange decision, for CloudWatch Logs Insights and local logs.

The line names the request, the SIM (only once its token verified), the outcome code, the
role, the laptop key's thumbprint (with key binding) and how long the decision took; never
the token, the nonce, a proof or a credential.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

#: The logger audit lines go to; ``serve`` gives it its own plain handler.
AUDIT_LOGGER = "endorse_ble.exchange.audit"
#: The outcome of a request that was given credentials.
ISSUED = "issued"

log = logging.getLogger(AUDIT_LOGGER)


@dataclass(frozen=True)
class Decision:
    """What the exchange answered and about whom."""

    status: int
    body: dict[str, object]
    #: ``issued`` or the error code sent.
    outcome: str
    imsi: str | None = None
    imei: str | None = None
    role_arn: str | None = None
    #: The thumbprint of the laptop key whose proof passed (key binding), if any.
    laptop: str | None = None


def audit_line(decision: Decision, request_id: str, duration_seconds: float) -> str:
    """The JSON audit record of one decision."""
    return json.dumps(
        {
            "audit": "endorse-exchange",
            "request_id": request_id,
            "outcome": decision.outcome,
            "status": decision.status,
            "imsi": decision.imsi,
            "imei": decision.imei,
            "role_arn": decision.role_arn,
            "jkt": decision.laptop,
            "duration_ms": round(duration_seconds * 1000, 1),
        },
        separators=(",", ":"),
    )


def record(decision: Decision, request_id: str, duration_seconds: float) -> None:
    """Log the audit line of one decision at INFO on :data:`AUDIT_LOGGER`."""
    log.info("%s", audit_line(decision, request_id, duration_seconds))
