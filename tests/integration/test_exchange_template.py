"""The exchange's CloudFormation template: cfn-lint clean, and created on moto as far as
moto supports its resources."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from endorse_ble.exchange.config import check_role_chaining
from endorse_ble.exchange.config_env import config_from_env
from endorse_ble.testbed.aws.env import TEST_REGION

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "exchange.yaml"


def test_cfn_lint_is_clean() -> None:
    """cfn-lint reports nothing, not even a warning."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# moto warns about each resource type its CloudFormation cannot create (the HTTP API, its
# route and stage, the alarm); the others are created and checked below.
@pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")
def test_the_stack_creates_on_moto(
    aws_test_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tables, roles with their trust and the function with its environment."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        _create_and_check(boto3.Session(region_name=TEST_REGION))


def _create_and_check(session: boto3.Session) -> None:
    s3 = session.client("s3")
    s3.create_bucket(Bucket="exchangecode")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("endorse_ble/__init__.py", "")
    s3.put_object(Bucket="exchangecode", Key="exchange-1.zip", Body=code.getvalue())
    cloudformation = session.client("cloudformation")
    cloudformation.create_stack(
        StackName="endorse-test",
        TemplateBody=TEMPLATE.read_text(encoding="utf-8"),
        Parameters=[
            {"ParameterKey": "CodeBucket", "ParameterValue": "exchangecode"},
            {"ParameterKey": "CodeKey", "ParameterValue": "exchange-1.zip"},
        ],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    stack = cloudformation.describe_stacks(StackName="endorse-test")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    listed = cloudformation.describe_stack_resources(StackName="endorse-test")["StackResources"]
    resources = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for r in listed
        if "LogicalResourceId" in r
    }
    dynamodb = session.client("dynamodb")
    replay = dynamodb.describe_table(TableName=resources["ReplayTable"])["Table"]
    assert replay["KeySchema"] == [{"AttributeName": "jti", "KeyType": "HASH"}]
    # moto's CloudFormation does not apply TimeToLiveSpecification; the template says it.
    assert "AttributeName: expires_at" in TEMPLATE.read_text(encoding="utf-8")
    allowlist = dynamodb.describe_table(TableName=resources["AllowlistTable"])["Table"]
    assert allowlist["KeySchema"] == [{"AttributeName": "imsi", "KeyType": "HASH"}]
    iam = session.client("iam")
    device = iam.get_role(RoleName="endorse-test-device")["Role"]
    assert device["MaxSessionDuration"] == 3600
    trust = device["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"]["AWS"].endswith(f":role/{resources['ExchangeRole']}")
    function = session.client("lambda").get_function_configuration(
        FunctionName=resources["ExchangeFunction"]
    )
    assert function["Handler"] == "endorse_ble.exchange.lambda_handler.handler"
    assert function["Environment"]["Variables"]["EXCHANGE_CREDENTIALS_ROLE_CHAINING"] == "true"


def test_the_functions_environment_is_a_valid_lambda_configuration() -> None:
    """The template's EXCHANGE_* variables (references filled in) pass the Lambda's checks."""
    text = TEMPLATE.read_text(encoding="utf-8")
    block = text.split("Variables:\n", 1)[1].split("\n\n", 1)[0]
    env = {}
    for name, value in re.findall(r"^ {10}(EXCHANGE_\w+): (.+)$", block, flags=re.MULTILINE):
        if value.startswith("!"):  # a reference: a plausible stand-in of its type
            value = {
                "EXCHANGE_CREDENTIALS_DEFAULT_ROLE_ARN": "arn:aws:iam::123456789012:role/d",
                "EXCHANGE_CREDENTIALS_DURATION_SECONDS": "3600",
                "EXCHANGE_TOKEN_REQUIRE_NONCE": "true",
                "EXCHANGE_TOKEN_REQUIRE_KEY_BINDING": "true",
            }.get(name, "table-name")
        env[name] = value.strip('"')
    assert len(env) >= 12
    config = config_from_env(env)
    check_role_chaining(config)
    assert config.allowlist.backend == config.replay.backend == "dynamodb"
