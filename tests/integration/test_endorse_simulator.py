"""The Endorse simulator answers like Endorse, serves its keys and plays each fault."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import jwt
import pytest

from endorse_ble.testbed.endorse.server import EndorseFault, EndorseSimulator
from endorse_ble.testbed.endorse_keys import AUDIENCE, ISSUER

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def request(
    sim: EndorseSimulator, method: str, path: str, body: bytes | None = None, timeout: float = 5
) -> tuple[int, bytes]:
    """One HTTP exchange with the simulator; returns status and body."""
    conn = http.client.HTTPConnection(sim.host, sim.port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def keystore_path(sim: EndorseSimulator, kid: str) -> str:
    return urllib.parse.urlsplit(sim.keystore_url + kid).path


def verified_claims(sim: EndorseSimulator, token: str) -> dict[str, Any]:
    """Verify ``token`` the way the exchange will: kid -> keystore PEM, RS256 only."""
    kid = jwt.get_unverified_header(token)["kid"]
    status, pem = request(sim, "GET", keystore_path(sim, kid))
    assert status == 200
    claims: dict[str, Any] = jwt.decode(token, pem, algorithms=["RS256"], audience=AUDIENCE)
    return claims


def test_get_answers_an_endorse_shaped_token_signed_by_a_served_key(
    endorse_sim: EndorseSimulator,
) -> None:
    """A GET with no parameters yields a verifiable token with Endorse's header and claims."""
    status, body = request(endorse_sim, "GET", "/")
    assert status == 200
    token = json.loads(body)["token"]
    header = jwt.get_unverified_header(token)
    assert header == {"kid": endorse_sim.signer.kid, "alg": "RS256"}
    claims = verified_claims(endorse_sim, token)
    assert claims["iss"] == ISSUER
    assert claims["sub"] == "soracom-endorse"
    assert claims["nbf"] == claims["iat"] - 60
    assert claims["exp"] - claims["iat"] == 600
    assert len(claims["jti"]) == 22
    claim = claims["soracom-endorse-claim"]
    assert claim["imsi"] == endorse_sim.sim.imsi
    assert claim["imei"] == endorse_sim.sim.imei
    assert "requestParameters" not in claim
    assert endorse_sim.token_requests == 1
    assert endorse_sim.last_request_parameters == {}


def test_get_copies_query_parameters_last_value_wins(endorse_sim: EndorseSimulator) -> None:
    """Query parameters, decoded, land in requestParameters; a repeated one keeps its last."""
    query = "nonce=a%20b%26c%3Dd%2F%C3%A9&n=1&n=2&blank="
    status, body = request(endorse_sim, "GET", "/?" + query)
    assert status == 200
    params = verified_claims(endorse_sim, json.loads(body)["token"])["soracom-endorse-claim"][
        "requestParameters"
    ]
    assert params == {"nonce": "a b&c=d/é", "n": "2", "blank": ""}
    assert endorse_sim.last_request_parameters == params


def test_post_copies_a_json_body_as_strings(endorse_sim: EndorseSimulator) -> None:
    """A POSTed JSON object lands in requestParameters, non-strings as their JSON text."""
    status, body = request(endorse_sim, "POST", "/", json.dumps({"nonce": "x", "k": 3}).encode())
    assert status == 200
    params = verified_claims(endorse_sim, json.loads(body)["token"])["soracom-endorse-claim"][
        "requestParameters"
    ]
    assert params == {"nonce": "x", "k": "3"}


@pytest.mark.parametrize("body", [b"[1, 2]", b"not json", b"\xff\xfe"])
def test_post_refuses_a_body_that_is_not_a_json_object(
    endorse_sim: EndorseSimulator, body: bytes
) -> None:
    """A POST body that is not a JSON object gets 400, not a token."""
    status, _ = request(endorse_sim, "POST", "/", body)
    assert status == 400


def test_lifetime_is_settable_while_running(endorse_sim: EndorseSimulator) -> None:
    """Changing ``lifetime`` changes exp - iat of the next token."""
    endorse_sim.lifetime = 180
    _, body = request(endorse_sim, "GET", "/")
    claims = verified_claims(endorse_sim, json.loads(body)["token"])
    assert claims["exp"] - claims["iat"] == 180


def test_padding_grows_tokens_to_the_asked_size(endorse_sim: EndorseSimulator) -> None:
    """``padding_bytes`` makes signed tokens of about 2 KiB, as RSA-4096 ones would be."""
    _, body = request(endorse_sim, "GET", "/")
    plain = json.loads(body)["token"]
    endorse_sim.padding_bytes = 900
    _, body = request(endorse_sim, "GET", "/")
    padded = json.loads(body)["token"]
    assert verified_claims(endorse_sim, padded)["padding"] == "p" * 900
    assert len(padded) - len(plain) >= 1200  # 900 bytes of JSON, base64url-encoded


def test_rotation_keeps_serving_old_keys(endorse_sim: EndorseSimulator) -> None:
    """After rotate_key, new tokens carry the new kid and both public keys are served."""
    old_kid = endorse_sim.signer.kid
    _, body = request(endorse_sim, "GET", "/")
    old_token = json.loads(body)["token"]
    new_kid = endorse_sim.rotate_key()
    assert new_kid != old_kid
    assert endorse_sim.signer.kid == new_kid
    _, body = request(endorse_sim, "GET", "/")
    new_token = json.loads(body)["token"]
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    verified_claims(endorse_sim, old_token)
    verified_claims(endorse_sim, new_token)
    for kid in (old_kid, new_kid):
        status, pem = request(endorse_sim, "GET", keystore_path(endorse_sim, kid))
        assert (status, pem) == (200, endorse_sim.public_key_pem(kid))
        assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert endorse_sim.keystore_fetches == 4


@pytest.mark.parametrize(
    ("kid", "status"),
    [
        ("v1-00000000000000000000000000000000-x509.pem", 404),
        ("..%2F..%2Fetc%2Fpasswd", 400),
        ("v1-../../etc/passwd", 400),
        ("v1-00000000000000000000000000000000-x509.pem%2F..", 400),
        ("", 400),
        ("V1-00000000000000000000000000000000-X509.PEM", 400),
    ],
)
def test_keystore_refuses_unknown_and_malformed_kids(
    endorse_sim: EndorseSimulator, kid: str, status: int
) -> None:
    """An unknown kid is 404 and anything not shaped like a kid is 400, never a file."""
    got, body = request(endorse_sim, "GET", keystore_path(endorse_sim, kid))
    assert got == status
    assert b"BEGIN" not in body


@pytest.mark.parametrize(
    ("fault", "status", "content_type"),
    [
        (EndorseFault.NOT_ON_SIM_LINK, 403, "application/json"),
        (EndorseFault.SERVER_ERROR, 503, "application/json"),
        (EndorseFault.GARBAGE, 200, "text/html"),
        (EndorseFault.TRUNCATED_JSON, 200, "application/json"),
    ],
)
def test_quick_faults_answer_as_documented(
    endorse_sim: EndorseSimulator, fault: EndorseFault, status: int, content_type: str
) -> None:
    """Each quick fault gives its status and a body that is not a usable token answer."""
    endorse_sim.fault = fault
    conn = http.client.HTTPConnection(endorse_sim.host, endorse_sim.port, timeout=5)
    conn.request("GET", "/")
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == status
    assert resp.getheader("Content-Type") == content_type
    if fault is EndorseFault.NOT_ON_SIM_LINK:
        assert json.loads(body)["code"] == "ENDORSE_NOT_ON_SIM_LINK"
    elif status == 200:
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)


def test_slow_answers_after_the_delay(endorse_sim: EndorseSimulator) -> None:
    """SLOW delays the normal answer by slow_delay_seconds."""
    endorse_sim.fault = EndorseFault.SLOW
    endorse_sim.slow_delay_seconds = 0.3
    started = time.monotonic()
    status, body = request(endorse_sim, "GET", "/")
    assert status == 200
    assert "token" in json.loads(body)
    assert time.monotonic() - started >= 0.3


def test_huge_body_streams_beyond_any_sane_bound(endorse_sim: EndorseSimulator) -> None:
    """HUGE_BODY keeps sending past 1 MiB with no Content-Length to trust."""
    endorse_sim.fault = EndorseFault.HUGE_BODY
    conn = http.client.HTTPConnection(endorse_sim.host, endorse_sim.port, timeout=5)
    conn.request("GET", "/")
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Length") is None
    got = 0
    while got <= 1024 * 1024:
        chunk = resp.read(65536)
        assert chunk
        got += len(chunk)
    conn.close()


def test_stop_releases_a_hung_request_promptly() -> None:
    """In HANG mode a request gets no answer, and stop() still returns at once."""
    sim = EndorseSimulator()
    sim.start()
    sim.fault = EndorseFault.HANG
    outcome: list[BaseException | int] = []
    answered = threading.Event()

    def client() -> None:
        try:
            outcome.append(request(sim, "GET", "/", timeout=10)[0])
        except (http.client.HTTPException, OSError) as exc:
            outcome.append(exc)
        answered.set()

    thread = threading.Thread(target=client)
    thread.start()
    deadline = time.monotonic() + 5
    while sim.token_requests == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # poll the counter: the handler has no event to await
    assert sim.token_requests == 1
    assert not answered.is_set()
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 2
    assert answered.wait(5)
    thread.join()
    assert isinstance(outcome[0], http.client.RemoteDisconnected)


def test_cli_prints_urls_then_ready_and_stops_on_sigterm() -> None:
    """The CLI announces its URLs and READY, serves tokens and exits 0 on SIGTERM."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "endorse_ble.testbed",
            "endorse",
            "--lifetime",
            "180",
            "--imsi",
            "001019999",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        assert lines[2] == "READY", lines
        values = dict(line.split("=", 1) for line in lines[:2])
        url = urllib.parse.urlsplit(values["ENDORSE_URL"])
        assert values["KEYSTORE_URL"] == f"{values['ENDORSE_URL']}soracom-public-keys/"
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
        conn.request("GET", "/")
        token = json.loads(conn.getresponse().read())["token"]
        conn.close()
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["soracom-endorse-claim"]["imsi"] == "001019999"
        assert claims["exp"] - claims["iat"] == 180
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
