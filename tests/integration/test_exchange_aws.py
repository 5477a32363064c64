"""The STS issuer and the DynamoDB replay guard against moto over HTTP."""

from __future__ import annotations

import re
import time

import boto3
import pytest

from endorse_ble.exchange.aws_clients import dynamodb_client, sts_client
from endorse_ble.exchange.config import AwsSettings
from endorse_ble.exchange.errors import ErrorCode, ExchangeError
from endorse_ble.exchange.issuer import StsIssuer
from endorse_ble.exchange.policy import Grant
from endorse_ble.exchange.replay import DynamoReplayGuard
from endorse_ble.testbed.exchange.pytest_fixtures import TEST_REGION, TEST_ROLE_ARN, closed_port_url


def settings(endpoint: str) -> AwsSettings:
    """AWS settings pointing at ``endpoint`` with one attempt."""
    return AwsSettings(region=TEST_REGION, endpoint_url=endpoint, max_attempts=1)


def test_issues_credentials_for_a_grant(moto_server: str) -> None:
    """AssumeRole yields credentials with a future UTC expiry for the IMSI's session."""
    issuer = StsIssuer(sts_client(settings(moto_server)), 900, "endorse-")
    creds = issuer.issue(Grant("440103123456789", "356938035643809", TEST_ROLE_ARN))
    wire = creds.to_json()
    assert wire["AccessKeyId"].startswith("ASIA")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", wire["Expiration"])
    assert 0 < creds.expiration.timestamp() - time.time() <= 900 + 5
    assert creds.secret_access_key not in repr(creds)


@pytest.mark.parametrize(
    ("endpoint", "role"),
    [
        pytest.param("moto", "arn:bad", id="invalid-role-arn"),
        pytest.param("down", TEST_ROLE_ARN, id="sts-unreachable"),
    ],
)
def test_sts_failures_are_issuer_failed(moto_server: str, endpoint: str, role: str) -> None:
    """Invalid roles and an unreachable STS become ISSUER_FAILED (502)."""
    url = moto_server if endpoint == "moto" else closed_port_url()
    issuer = StsIssuer(sts_client(settings(url)), 900, "endorse-")
    with pytest.raises(ExchangeError) as info:
        issuer.issue(Grant("440103123456789", None, role))
    assert info.value.code is ErrorCode.ISSUER_FAILED
    assert int(info.value.status) == 502


def test_dynamodb_guard_refuses_the_second_use(moto_server: str, replay_table: str) -> None:
    """The conditional put admits a jti once, across guards sharing the table."""
    client = dynamodb_client(settings(moto_server))
    first = DynamoReplayGuard(client, replay_table)
    second = DynamoReplayGuard(client, replay_table)  # another "Lambda instance"
    first.claim("jti-1", time.time() + 600)
    with pytest.raises(ExchangeError) as info:
        second.claim("jti-1", time.time() + 600)
    assert info.value.code is ErrorCode.TOKEN_REPLAYED
    item = boto3.client("dynamodb", endpoint_url=moto_server, region_name=TEST_REGION).get_item(
        TableName=replay_table, Key={"jti": {"S": "jti-1"}}
    )["Item"]
    assert int(item["expires_at"]["N"]) > time.time()


def test_dynamodb_guard_overwrites_an_expired_item(moto_server: str, replay_table: str) -> None:
    """An item whose TTL passed but was not yet deleted does not block its jti forever."""
    client = dynamodb_client(settings(moto_server))
    now = time.time()
    DynamoReplayGuard(client, replay_table, clock=lambda: now).claim("jti-2", now + 10)
    later = DynamoReplayGuard(client, replay_table, clock=lambda: now + 60)
    later.claim("jti-2", now + 600)


def test_dynamodb_failure_is_unavailable(moto_server: str) -> None:
    """A missing table is REPLAY_STORE_UNAVAILABLE (502), not a replay."""
    guard = DynamoReplayGuard(dynamodb_client(settings(moto_server)), "no-such-table")
    with pytest.raises(ExchangeError) as info:
        guard.claim("jti-3", time.time() + 600)
    assert info.value.code is ErrorCode.REPLAY_STORE_UNAVAILABLE
