"""Refuse a token whose ``jti`` was already exchanged, for as long as the token lives.

Two backends behind :class:`ReplayGuard`: memory (one process; bounded, expiring) and
DynamoDB (many Lambda instances; a conditional put is the atomic "first one wins").
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from endorse_ble.exchange.aws_clients import AWS_ERRORS, aws_error_code
from endorse_ble.exchange.errors import ErrorCode, ExchangeError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)


def _replayed() -> ExchangeError:
    return ExchangeError(ErrorCode.TOKEN_REPLAYED, "this token has already been exchanged")


class ReplayGuard(Protocol):
    """Remember token ids until they expire; the second use of one is refused."""

    def claim(self, jti: str, expires_at: float) -> None:
        """Record ``jti`` as used until ``expires_at`` (epoch seconds), or raise REPLAYED."""
        ...


class MemoryReplayGuard:
    """A bounded in-process replay cache; entries leave once their token has expired.

    When full of unexpired ids it refuses new tokens (503) rather than forget one, since
    forgetting would re-open a replay window.
    """

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        self._max = max_entries
        self._clock = clock
        self._seen: dict[str, float] = {}
        self._expiry: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)

    def _purge(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, jti = heapq.heappop(self._expiry)
            self._seen.pop(jti, None)

    def claim(self, jti: str, expires_at: float) -> None:
        """Record ``jti``; raise TOKEN_REPLAYED if it is already recorded."""
        with self._lock:
            now = self._clock()
            self._purge(now)
            if jti in self._seen:
                raise _replayed()
            if len(self._seen) >= self._max:
                log.error("replay cache full (%d ids); refusing new tokens", self._max)
                raise ExchangeError(ErrorCode.REPLAY_STORE_FULL, "the exchange is busy")
            self._seen[jti] = expires_at
            heapq.heappush(self._expiry, (expires_at, jti))


class DynamoReplayGuard:
    """Replay refusal shared by every instance through one DynamoDB table.

    Table: partition key ``jti`` (S); TTL attribute ``expires_at`` (N, epoch seconds).
    DynamoDB deletes expired items lazily (up to days later), so the condition also lets an
    item whose ``expires_at`` has passed be overwritten.
    """

    def __init__(
        self, client: DynamoDBClient, table: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    def claim(self, jti: str, expires_at: float) -> None:
        """Conditionally put ``jti``; a failed condition means it was used before."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={"jti": {"S": jti}, "expires_at": {"N": str(int(expires_at) + 1)}},
                ConditionExpression="attribute_not_exists(jti) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(int(self._clock()))}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            raise _replayed() from None
        except AWS_ERRORS as exc:
            log.error("replay table %s failed: %s", self._table, aws_error_code(exc))
            raise ExchangeError(
                ErrorCode.REPLAY_STORE_UNAVAILABLE, "the replay store could not be reached"
            ) from None
