"""The Endorse client against the real simulator: tokens, nonces, and every fault mode."""

from __future__ import annotations

import dataclasses
import logging
import socket
import time
import urllib.request
from collections.abc import Iterator

import jwt
import pytest

from endorse_ble.peripheral.endorse_client import EndorseClient
from endorse_ble.peripheral.errors import EndorseFetchError, EndorseFetchReason
from endorse_ble.peripheral.settings import CellularSettings, EndorseSettings
from endorse_ble.testbed.endorse.server import EndorseFault, EndorseSimulator
from endorse_ble.testbed.endorse_keys import AUDIENCE

pytestmark = pytest.mark.integration

CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 0.5
LOOPBACK = CellularSettings(interface=None, source_address="127.0.0.1")


def settings_for(url: str, **overrides: float) -> EndorseSettings:
    """Settings for ``url`` with the tests' short timeouts, then ``overrides``."""
    short = EndorseSettings(
        url=url, connect_timeout_seconds=CONNECT_TIMEOUT, read_timeout_seconds=READ_TIMEOUT
    )
    return dataclasses.replace(short, **overrides)


@pytest.fixture
def client(endorse_sim: EndorseSimulator) -> Iterator[EndorseClient]:
    """A client bound to loopback's address, talking to the simulator with short timeouts."""
    with EndorseClient(settings_for(endorse_sim.url), LOOPBACK) as c:
        yield c


def keystore_pem(sim: EndorseSimulator, kid: str) -> bytes:
    with urllib.request.urlopen(sim.keystore_url + kid, timeout=5) as resp:  # noqa: S310 - our http URL
        body: bytes = resp.read()
        return body


def test_fetch_returns_the_simulated_sims_token(
    client: EndorseClient, endorse_sim: EndorseSimulator
) -> None:
    """A plain fetch yields a token naming the simulator's SIM, signed by its current key."""
    token = client.fetch()
    assert token.claim.imsi == endorse_sim.sim.imsi
    assert token.header.kid == endorse_sim.signer.kid
    assert token.nonce is None
    assert endorse_sim.last_request_parameters == {}
    jwt.decode(
        token.raw,
        keystore_pem(endorse_sim, endorse_sim.signer.kid),
        algorithms=["RS256"],
        audience=AUDIENCE,
    )


@pytest.mark.parametrize("nonce", ["-_-_-_-_", "A" * 64, "0123456789abcdefABCDEF-_"])
def test_nonce_round_trips_intact_into_the_signed_claim(
    client: EndorseClient, endorse_sim: EndorseSimulator, nonce: str
) -> None:
    """A nonce arrives unchanged in requestParameters, and only it."""
    token = client.fetch(nonce)
    assert token.nonce == nonce
    assert dict(token.claim.request_parameters) == {"nonce": nonce}
    assert endorse_sim.last_request_parameters == {"nonce": nonce}


@pytest.mark.parametrize(
    "nonce", ["a b&c=d/é-x", "+%20+%20+", "x&nonce=evil", "日本語日本語日本語", "=" * 64]
)
def test_a_nonce_outside_the_rule_is_never_sent(
    client: EndorseClient, endorse_sim: EndorseSimulator, nonce: str
) -> None:
    """Anything that would need encoding in the query is BAD_NONCE before any request."""
    with pytest.raises(EndorseFetchError) as caught:
        client.fetch(nonce)
    assert caught.value.reason is EndorseFetchReason.BAD_NONCE
    assert endorse_sim.last_request_parameters is None


def test_tokens_from_before_and_after_rotation_both_verify(
    client: EndorseClient, endorse_sim: EndorseSimulator
) -> None:
    """After a key rotation the old and the new kid are both served and verify their tokens."""
    before = client.fetch()
    endorse_sim.rotate_key()
    after = client.fetch()
    assert before.header.kid != after.header.kid
    for token in (before, after):
        assert token.header.kid is not None
        pem = keystore_pem(endorse_sim, token.header.kid)
        jwt.decode(token.raw, pem, algorithms=["RS256"], audience=AUDIENCE)


@pytest.mark.parametrize(
    ("fault", "reason", "status"),
    [
        (EndorseFault.NOT_ON_SIM_LINK, EndorseFetchReason.REFUSED, 403),
        (EndorseFault.SERVER_ERROR, EndorseFetchReason.SERVER_ERROR, 503),
        (EndorseFault.SLOW, EndorseFetchReason.READ_TIMEOUT, None),
        (EndorseFault.HANG, EndorseFetchReason.READ_TIMEOUT, None),
        (EndorseFault.GARBAGE, EndorseFetchReason.NOT_JSON, None),
        (EndorseFault.TRUNCATED_JSON, EndorseFetchReason.NOT_JSON, None),
        (EndorseFault.HUGE_BODY, EndorseFetchReason.BODY_TOO_LARGE, None),
    ],
)
def test_each_fault_is_a_typed_error_within_the_timeouts(
    client: EndorseClient,
    endorse_sim: EndorseSimulator,
    fault: EndorseFault,
    reason: EndorseFetchReason,
    status: int | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every fault mode ends in its own reason, no later than the read timeout allows."""
    endorse_sim.fault = fault
    endorse_sim.slow_delay_seconds = 5 * READ_TIMEOUT
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    with pytest.raises(EndorseFetchError) as caught:
        client.fetch()
    elapsed = time.monotonic() - started
    assert caught.value.reason is reason, caught.value
    assert caught.value.status == status
    assert elapsed < READ_TIMEOUT + 0.5
    assert endorse_sim.token_requests == 1
    assert "eyJ" not in caplog.text  # not even a truncated token reaches the log


def test_huge_body_is_cut_at_the_configured_bound(endorse_sim: EndorseSimulator) -> None:
    """A 64 MiB body is abandoned at the max_body_bytes bound, for a small and a large bound."""
    endorse_sim.fault = EndorseFault.HUGE_BODY
    for bound in (1024, 1024 * 1024):
        with EndorseClient(settings_for(endorse_sim.url, max_body_bytes=bound), LOOPBACK) as c:
            started = time.monotonic()
            with pytest.raises(EndorseFetchError) as caught:
                c.fetch()
        assert caught.value.reason is EndorseFetchReason.BODY_TOO_LARGE
        assert f"{bound}-byte limit" in str(caught.value)
        assert time.monotonic() - started < 2


def test_a_slow_answer_within_the_read_timeout_succeeds(endorse_sim: EndorseSimulator) -> None:
    """SLOW under the read timeout is only slow: the token still arrives."""
    endorse_sim.fault = EndorseFault.SLOW
    endorse_sim.slow_delay_seconds = 0.2
    with EndorseClient(settings_for(endorse_sim.url, read_timeout_seconds=2.0), LOOPBACK) as c:
        assert c.fetch().claim.imsi == endorse_sim.sim.imsi


def test_the_token_itself_is_never_logged(
    client: EndorseClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A successful fetch logs the token's length and hash prefix, never the token."""
    caplog.set_level(logging.DEBUG)
    token = client.fetch("nonce-one")
    assert token.raw not in caplog.text
    assert token.raw[:20] not in caplog.text
    assert f"sha256={token.fingerprint}" in caplog.text


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_nothing_listening_is_connect_failed_at_once() -> None:
    """A refused connection is CONNECTION_REFUSED without waiting for a timeout."""
    url = f"http://127.0.0.1:{closed_port()}/"
    with EndorseClient(settings_for(url, connect_timeout_seconds=5.0), LOOPBACK) as c:
        started = time.monotonic()
        with pytest.raises(EndorseFetchError) as caught:
            c.fetch()
    assert caught.value.reason is EndorseFetchReason.CONNECTION_REFUSED
    assert time.monotonic() - started < 1


def test_a_source_address_not_on_this_host_fails_to_bind(endorse_sim: EndorseSimulator) -> None:
    """Binding to an address this host does not have (TEST-NET-1) is BIND_FAILED, locally."""
    cellular = CellularSettings(interface=None, source_address="192.0.2.1")
    with (
        EndorseClient(settings_for(endorse_sim.url), cellular) as c,
        pytest.raises(EndorseFetchError) as caught,
    ):
        c.fetch()
    assert caught.value.reason is EndorseFetchReason.BIND_FAILED
    assert endorse_sim.token_requests == 0


def test_an_absent_interface_fails_fast_without_any_request(
    endorse_sim: EndorseSimulator,
) -> None:
    """Binding to an interface that does not exist fails at once and sends nothing."""
    cellular = CellularSettings(interface="ebtabsent0")
    with EndorseClient(settings_for(endorse_sim.url), cellular) as c:
        started = time.monotonic()
        with pytest.raises(EndorseFetchError) as caught:
            c.fetch()
    assert caught.value.reason is EndorseFetchReason.INTERFACE_MISSING
    assert "'ebtabsent0'" in str(caught.value)
    assert time.monotonic() - started < 0.1
    assert endorse_sim.token_requests == 0
