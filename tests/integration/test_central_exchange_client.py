"""The exchange client against a real local HTTP server: every status and body shape."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from endorse_ble.central.errors import ExchangeClientError, ExchangeFailure
from endorse_ble.central.exchange_client import (
    MAX_RESPONSE_BYTES,
    ExchangeClient,
    fetch_keystore_pem,
)
from endorse_ble.central.failures import EXIT_REFUSED, EXIT_UNAVAILABLE, explain
from tests.scripted_http import Reply, Script, scripted_server

GOOD = {
    "credentials": {
        "AccessKeyId": "ASIAEXAMPLEEXAMPLE01",
        "SecretAccessKey": "abc/def+ghi",
        "SessionToken": "IQoJb3JpZ2luX2VjE==",
        "Expiration": "2027-01-01T00:15:00.123+00:00",
    },
    "subject": {"imsi": "440103123456789", "imei": "353456789012347"},
}


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    with scripted_server() as running:
        yield running


def _body(value: object) -> bytes:
    return json.dumps(value).encode()


def test_success_posts_token_and_nonce(server: tuple[str, Script]) -> None:
    """A 200 answer becomes validated credentials; the request carries token and nonce."""
    url, script = server
    script.reply = Reply(200, _body(GOOD))
    with ExchangeClient(url, timeout=5) as client:
        result = client.exchange("a.b.c", "nonce-123")
    assert result.credentials.access_key_id == "ASIAEXAMPLEEXAMPLE01"
    assert result.credentials.expiration == "2027-01-01T00:15:00Z"
    assert result.subject.imsi == "440103123456789"
    method, path, body = script.requests[0]
    assert (method, path) == ("POST", "/")
    assert json.loads(body) == {"token": "a.b.c", "nonce": "nonce-123"}


def _err(code: str, message: str = "why") -> bytes:
    return _body({"error": code, "message": message})


@pytest.mark.parametrize(
    ("reply", "reason", "exit_code", "in_message"),
    [
        (Reply(400, _err("malformed_token")), ExchangeFailure.BAD_REQUEST, EXIT_REFUSED, "400"),
        (
            Reply(401, _err("token_expired")),
            ExchangeFailure.TOKEN_REJECTED,
            EXIT_REFUSED,
            "expired before it reached",
        ),
        (Reply(401, _err("bad_signature")), ExchangeFailure.TOKEN_REJECTED, EXIT_REFUSED, "real"),
        (Reply(403, _err("imsi_not_allowed")), ExchangeFailure.FORBIDDEN, EXIT_REFUSED, "IMSI"),
        (Reply(409, _err("token_replayed")), ExchangeFailure.REPLAYED, EXIT_REFUSED, "fresh"),
        (Reply(413, _err("request_too_large")), ExchangeFailure.BAD_REQUEST, EXIT_REFUSED, "413"),
        (Reply(429, _err("keystore_rate_limited")), ExchangeFailure.RATE_LIMITED, 5, "wait"),
        (
            Reply(502, _err("issuer_failed", "STS said no")),
            ExchangeFailure.UNAVAILABLE,
            EXIT_UNAVAILABLE,
            "STS said no",
        ),
        (
            Reply(503, b"<html>down</html>", {"Content-Type": "text/html"}),
            ExchangeFailure.UNAVAILABLE,
            EXIT_UNAVAILABLE,
            "503",
        ),
        (Reply(418, _err("teapot")), ExchangeFailure.BAD_RESPONSE, EXIT_UNAVAILABLE, "HTTP 418"),
        (
            Reply(302, b"", {"Location": "http://127.0.0.1:1/"}),
            ExchangeFailure.BAD_RESPONSE,
            EXIT_UNAVAILABLE,
            "HTTP 302",
        ),
        (Reply(200, b"not json"), ExchangeFailure.BAD_RESPONSE, EXIT_UNAVAILABLE, "not JSON"),
        (Reply(200, _body([1])), ExchangeFailure.BAD_RESPONSE, EXIT_UNAVAILABLE, "object"),
        (
            Reply(200, b" " * (MAX_RESPONSE_BYTES + 1)),
            ExchangeFailure.BAD_RESPONSE,
            EXIT_UNAVAILABLE,
            "over",
        ),
    ],
)
def test_refusals_map_to_reason_message_and_exit_code(
    server: tuple[str, Script],
    reply: Reply,
    reason: ExchangeFailure,
    exit_code: int,
    in_message: str,
) -> None:
    """Each status/body shape becomes a typed error with a one-line message and exit code."""
    url, script = server
    script.reply = reply
    with ExchangeClient(url, timeout=5) as client, pytest.raises(ExchangeClientError) as caught:
        client.exchange("a.b.c")
    assert caught.value.reason is reason
    failure = explain(caught.value)
    assert failure.exit_code == exit_code
    assert in_message in failure.message
    assert "\n" not in failure.message


def _creds(**changes: object) -> bytes:
    return _body({**GOOD, "credentials": {**GOOD["credentials"], **changes}})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "body",
    [
        _creds(AccessKeyId=None),
        _creds(AccessKeyId="ASIA-WITH-DASH"),
        _creds(SecretAccessKey="line\nbreak"),
        _creds(SecretAccessKey="quote'\"s"),
        _creds(SessionToken="x" * 9000),
        _creds(Expiration="tomorrow"),
        _creds(Expiration="2027-01-01T00:00:00"),
        _creds(Expiration=1800000000),
        _body({**GOOD, "subject": {"imsi": "$(rm -rf /)"}}),
        _body({"subject": GOOD["subject"]}),
    ],
)
def test_hostile_success_bodies_are_refused(server: tuple[str, Script], body: bytes) -> None:
    """A 200 whose credentials are not what STS issues is refused, never printed or stored."""
    url, script = server
    script.reply = Reply(200, body)
    with ExchangeClient(url, timeout=5) as client, pytest.raises(ExchangeClientError) as caught:
        client.exchange("a.b.c")
    assert caught.value.reason is ExchangeFailure.BAD_RESPONSE


def test_exchange_message_is_sanitised(server: tuple[str, Script]) -> None:
    """Control characters and terminal escapes in the exchange's message never reach stderr."""
    url, script = server
    script.reply = Reply(403, _err("nope\x1b[31m", "line1\nline2\x1b]0;title\x07" + "x" * 500))
    with ExchangeClient(url, timeout=5) as client, pytest.raises(ExchangeClientError) as caught:
        client.exchange("a.b.c")
    message = explain(caught.value).message
    assert message.isprintable()
    assert len(message) < 400


def test_connection_refused() -> None:
    """Nothing listening: a clear 'connection refused', exit code 5."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with (
        ExchangeClient(f"http://127.0.0.1:{port}/", timeout=5) as client,
        pytest.raises(ExchangeClientError) as caught,
    ):
        client.exchange("a.b.c")
    assert caught.value.reason is ExchangeFailure.UNREACHABLE
    assert "connection refused" in explain(caught.value).message
    assert explain(caught.value).exit_code == EXIT_UNAVAILABLE


def test_timeout(server: tuple[str, Script]) -> None:
    """A server that never answers is a timeout after the configured seconds."""
    url, script = server
    script.reply = Reply(hang=True)
    with ExchangeClient(url, timeout=0.3) as client, pytest.raises(ExchangeClientError) as caught:
        client.exchange("a.b.c")
    assert caught.value.reason is ExchangeFailure.TIMEOUT
    assert "--exchange-timeout" in explain(caught.value).message


def test_keystore_fetch(server: tuple[str, Script]) -> None:
    """The keystore PEM is fetched with GET; a 404 is a clear error."""
    url, script = server
    script.reply = Reply(200, b"-----BEGIN PUBLIC KEY-----\n")
    assert fetch_keystore_pem(url + "v1-x.pem").startswith(b"-----BEGIN")
    script.reply = Reply(404, b"")
    with pytest.raises(ExchangeClientError, match="HTTP 404"):
        fetch_keystore_pem(url + "v1-x.pem")
