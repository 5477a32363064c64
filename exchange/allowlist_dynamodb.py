"""The allowlist in a DynamoDB table: lookups for the exchange, writes for admins.

Table: partition key ``imsi`` (S); attributes ``imei`` (S), ``role_arn`` (S), ``enabled``
(BOOL, absent means enabled) and ``laptops`` (a string set or list: the RFC 7638
thumbprints of the laptop keys enrolled for the SIM, for key binding). Admins edit it
with ``endorse-exchange allow add|remove|disable|list``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from endorse_ble.exchange.aws_clients import AWS_ERRORS, aws_error_code
from endorse_ble.exchange.config import IMEI_PATTERN, IMSI_PATTERN, AllowEntry
from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.tokenlink.key_binding import is_thumbprint

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

log = logging.getLogger(__name__)


def _string(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    text = value.get("S") if isinstance(value, dict) else None
    if not isinstance(text, str):
        raise ValueError(f"{name} is not a string")
    return text


def entry_from_item(item: dict[str, Any]) -> AllowEntry:
    """An :class:`AllowEntry` from a DynamoDB item; ValueError when it is malformed."""
    imsi, imei, role = _string(item, "imsi"), _string(item, "imei"), _string(item, "role_arn")
    if imsi is None or not IMSI_PATTERN.fullmatch(imsi):
        raise ValueError("imsi is not 5-15 digits")
    if imei is not None and not IMEI_PATTERN.fullmatch(imei):
        raise ValueError("imei is not 14-16 digits")
    if role is not None and not role.startswith("arn:"):
        raise ValueError("role_arn is not an ARN")
    enabled = item.get("enabled", {"BOOL": True})
    if not isinstance(enabled, dict) or not isinstance(enabled.get("BOOL"), bool):
        raise ValueError("enabled is not a boolean")
    held = item.get("laptops", {"L": []})
    raw = held.get("SS", held.get("L")) if isinstance(held, dict) else None
    if not isinstance(raw, list):
        raise ValueError("laptops is not a string set or a list")
    laptops = []
    for value in raw:
        key = value.get("S") if isinstance(value, dict) else value
        if not isinstance(key, str) or not is_thumbprint(key):
            raise ValueError("laptops holds something other than key thumbprints")
        laptops.append(key)
    return AllowEntry(
        imsi=imsi,
        imei=imei,
        role_arn=role,
        enabled=enabled["BOOL"],
        laptops=tuple(sorted(laptops)),
    )


def item_from_entry(entry: AllowEntry) -> dict[str, AttributeValueTypeDef]:
    """The DynamoDB item for an entry."""
    item: dict[str, AttributeValueTypeDef] = {
        "imsi": {"S": entry.imsi},
        "enabled": {"BOOL": entry.enabled},
    }
    if entry.imei is not None:
        item["imei"] = {"S": entry.imei}
    if entry.role_arn is not None:
        item["role_arn"] = {"S": entry.role_arn}
    if entry.laptops:
        item["laptops"] = {"SS": list(entry.laptops)}
    return item


def _unavailable(table: str, exc: BaseException) -> ExchangeError:
    log.error("allowlist table %s failed: %s", table, aws_error_code(exc))
    return ExchangeError(ErrorCode.ALLOWLIST_UNAVAILABLE, "the allowlist could not be read")


class DynamoAllowlist:
    """The allowlist in a DynamoDB table (reads for the exchange, writes for admins)."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def lookup(self, imsi: str) -> AllowEntry | None:
        """Read the item for ``imsi`` (a strongly consistent read: revocations count)."""
        try:
            answer = self._client.get_item(
                TableName=self._table, Key={"imsi": {"S": imsi}}, ConsistentRead=True
            )
        except AWS_ERRORS as exc:
            raise _unavailable(self._table, exc) from None
        item = answer.get("Item")
        if item is None:
            return None
        try:
            return entry_from_item(dict(item))
        except ValueError as exc:
            # Refuse rather than guess what an admin meant.
            log.error("allowlist item for imsi %s is malformed: %s", imsi, exc)
            raise ExchangeError(
                ErrorCode.ALLOWLIST_UNAVAILABLE, "the allowlist entry is malformed"
            ) from None

    def put(self, entry: AllowEntry) -> None:
        """Add or replace the entry."""
        try:
            self._client.put_item(TableName=self._table, Item=item_from_entry(entry))
        except AWS_ERRORS as exc:
            raise _unavailable(self._table, exc) from None

    def remove(self, imsi: str) -> bool:
        """Delete the entry; False when there was none."""
        try:
            answer = self._client.delete_item(
                TableName=self._table, Key={"imsi": {"S": imsi}}, ReturnValues="ALL_OLD"
            )
        except AWS_ERRORS as exc:
            raise _unavailable(self._table, exc) from None
        return "Attributes" in answer

    def disable(self, imsi: str) -> bool:
        """Mark the entry disabled (kept, refused); False when there is none."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"imsi": {"S": imsi}},
                UpdateExpression="SET enabled = :false",
                ConditionExpression="attribute_exists(imsi)",
                ExpressionAttributeValues={":false": {"BOOL": False}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        except AWS_ERRORS as exc:
            raise _unavailable(self._table, exc) from None
        return True

    def entries(self) -> Iterator[AllowEntry | str]:
        """Every entry, or for a malformed item the reason it is malformed."""
        try:
            for page in self._client.get_paginator("scan").paginate(TableName=self._table):
                for item in page.get("Items", []):
                    try:
                        yield entry_from_item(dict(item))
                    except ValueError as exc:
                        yield f"malformed item: {exc}"
        except AWS_ERRORS as exc:
            raise _unavailable(self._table, exc) from None
