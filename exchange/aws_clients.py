"""Build the STS and DynamoDB clients: the exchange's only boto3 (and botocore) import.

Other modules type their clients with the mypy_boto3 stubs under TYPE_CHECKING and catch
:data:`AWS_ERRORS`, so the SDK stays behind this one module.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from endorse_ble.exchange.config import AwsSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sts import STSClient

#: Everything an AWS call can raise: service errors and transport/validation errors.
AWS_ERRORS: tuple[type[Exception], ...] = (BotoCoreError, ClientError)


def aws_error_code(exc: BaseException) -> str:
    """The service error code (e.g. ``AccessDenied``) or the SDK exception's class name."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


def _shared_session() -> boto3.session.Session:
    # One session for the process: it caches the service models, so building a client
    # takes milliseconds instead of ~70 ms. Sessions are not thread-safe, hence the lock.
    global _session
    if _session is None:
        _session = boto3.session.Session()
    return _session


def _client_config(settings: AwsSettings) -> Config:
    # A bounded number of attempts and short timeouts: the caller is waiting on an HTTP
    # request (API Gateway gives up after 29 s by default).
    return Config(
        region_name=settings.region,
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        retries={"max_attempts": settings.max_attempts, "mode": "standard"},
    )


def sts_client(settings: AwsSettings) -> STSClient:
    """An STS client for ``settings.region`` (and ``endpoint_url``, e.g. moto, if set)."""
    with _session_lock:
        client: STSClient = _shared_session().client(
            "sts", endpoint_url=settings.endpoint_url, config=_client_config(settings)
        )
    return client


def dynamodb_client(settings: AwsSettings) -> DynamoDBClient:
    """A DynamoDB client for ``settings.region`` (and ``endpoint_url`` if set)."""
    with _session_lock:
        client: DynamoDBClient = _shared_session().client(
            "dynamodb", endpoint_url=settings.endpoint_url, config=_client_config(settings)
        )
    return client
