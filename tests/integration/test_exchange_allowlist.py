"""The DynamoDB allowlist end to end on moto: an admin's CLI edits, the exchange obeys,
and every decision leaves one JSON audit line without token material."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from endorse_ble.exchange.app import build_app
from endorse_ble.exchange.audit import AUDIT_LOGGER
from endorse_ble.exchange.config import load_config_file
from endorse_ble.exchange.lambda_handler import LambdaAdapter
from endorse_ble.testbed.endorse.server import EndorseSimulator
from endorse_ble.testbed.endorse_keys import SimIdentity

SIM = SimIdentity()
JKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"  # RFC 7638 section 3.1's example


def allow(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``endorse-exchange allow --config CONFIG ARGS``."""
    return subprocess.run(
        [sys.executable, "-m", "endorse_ble.exchange", "allow", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )


def test_admins_add_disable_and_remove_sims_and_the_exchange_obeys(
    exchange_config_file: Callable[..., Path],
    allowlist_table: str,
    exchange_endorse: EndorseSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """add -> 200, disable -> 403, add -> 200, remove -> 403 (cache_seconds 0 here; the
    cache's TTL is tested on its own); list shows the entry; the audit holds no token."""
    extra = f'[allowlist]\nbackend = "dynamodb"\ntable = "{allowlist_table}"\ncache_seconds = 0\n'
    path = exchange_config_file(allow=[], extra=extra)
    adapter = LambdaAdapter(build_app(load_config_file(path)))
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    tokens: list[str] = []

    def exchange() -> tuple[int, str | None]:
        tokens.append(exchange_endorse.signer.mint(SIM))
        event = {"httpMethod": "POST", "body": json.dumps({"token": tokens[-1]})}
        answer = adapter(event, None)
        return answer["statusCode"], json.loads(answer["body"]).get("error")

    assert exchange() == (403, "imsi_not_allowed")
    added = allow(path, "add", SIM.imsi, "--imei", SIM.imei or "", "--laptop", JKT)
    assert added.returncode == 0, added.stderr
    assert exchange() == (200, None)
    listed = allow(path, "list", "--json")
    assert json.loads(listed.stdout) == {
        "imsi": SIM.imsi,
        "imei": SIM.imei,
        "role_arn": None,
        "enabled": True,
        "laptops": [JKT],
    }
    assert allow(path, "disable", SIM.imsi).returncode == 0
    assert exchange() == (403, "imsi_not_allowed")
    assert allow(path, "add", SIM.imsi).returncode == 0
    assert exchange() == (200, None)
    assert allow(path, "remove", SIM.imsi).returncode == 0
    assert exchange() == (403, "imsi_not_allowed")
    assert allow(path, "remove", SIM.imsi).returncode == 1

    audit = [json.loads(r.getMessage()) for r in caplog.records if r.name == AUDIT_LOGGER]
    assert [a["outcome"] for a in audit] == [
        "imsi_not_allowed", "issued", "imsi_not_allowed", "issued", "imsi_not_allowed"
    ]  # fmt: skip
    assert {a["imsi"] for a in audit} == {SIM.imsi}
    assert all(isinstance(a["duration_ms"], float) and a["request_id"] for a in audit)
    for token in tokens:
        for piece in token.split("."):
            assert piece not in caplog.text


def test_an_unreachable_allowlist_refuses_with_502(
    exchange_config_file: Callable[..., Path], exchange_endorse: EndorseSimulator
) -> None:
    """A table that does not exist refuses (allowlist_unavailable), it never grants."""
    extra = '[allowlist]\nbackend = "dynamodb"\ntable = "no-such-table"\n'
    adapter = LambdaAdapter(
        build_app(load_config_file(exchange_config_file(allow=[], extra=extra)))
    )
    event = {"httpMethod": "POST", "body": json.dumps({"token": exchange_endorse.signer.mint(SIM)})}
    answer = adapter(event, None)
    assert (answer["statusCode"], json.loads(answer["body"])["error"]) == (
        502,
        "allowlist_unavailable",
    )
