"""The environment that keeps boto3 (and the AWS CLI) on the local moto server."""

from __future__ import annotations

import os

#: The role the testbed's allowlist maps SIMs to (moto accepts any well-formed ARN).
TEST_ROLE_ARN = "arn:aws:iam::123456789012:role/endorse-exchange-test"
TEST_REGION = "us-east-1"
#: Dummy credentials and no config files: nothing can reach real AWS with real credentials.
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": TEST_REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
#: Variables that could point boto3 at real credentials; removed in the testbed.
AWS_UNSET = (
    "AWS_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def local_aws_env(endpoint_url: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: os.environ) pointed at the moto server at ``endpoint_url``."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in AWS_UNSET}
    env.update(AWS_TEST_ENV)
    env["AWS_ENDPOINT_URL"] = endpoint_url
    return env
