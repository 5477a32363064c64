"""The Endorse client against hostile servers: every fetch ends by its deadline, with
bounded memory and the reason named."""

from __future__ import annotations

import dataclasses
import email.utils
import time
import tracemalloc

import pytest

from endorse_ble.peripheral.endorse_client import EndorseClient, fetch_deadline_seconds
from endorse_ble.peripheral.errors import EndorseFetchError, EndorseFetchReason
from endorse_ble.peripheral.settings import CellularSettings, EndorseSettings
from endorse_ble.testbed.endorse.hostile import self_signed_context
from endorse_ble.testbed.endorse.server import EndorseFault, EndorseSimulator

pytestmark = pytest.mark.integration

LOOPBACK = CellularSettings(interface=None, source_address="127.0.0.1")
SETTINGS = EndorseSettings(connect_timeout_seconds=0.5, read_timeout_seconds=1.0)
#: Scheduling slack on a loaded machine; the deadline itself is 1.5 s.
SLACK = 1.0


def fetch_failure(sim: EndorseSimulator) -> tuple[EndorseFetchError, float]:
    """Fetch once from ``sim``; the error and how long the fetch took."""
    client = EndorseClient(dataclasses.replace(SETTINGS, url=sim.url), LOOPBACK)
    started = time.monotonic()
    with pytest.raises(EndorseFetchError) as caught:
        client.fetch()
    return caught.value, time.monotonic() - started


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (EndorseFault.DRIBBLE_HEADERS, EndorseFetchReason.READ_TIMEOUT),
        (EndorseFault.REDIRECT_DRIBBLE, EndorseFetchReason.READ_TIMEOUT),
        (EndorseFault.HANG, EndorseFetchReason.READ_TIMEOUT),
    ],
)
def test_slow_servers_are_cut_at_the_total_deadline(
    endorse_sim: EndorseSimulator, fault: EndorseFault, reason: EndorseFetchReason
) -> None:
    """Headers or a redirect body dribbled a byte at a time (each byte well within the
    read timeout) cannot stretch a fetch past its one total deadline."""
    endorse_sim.fault = fault
    endorse_sim.dribble_pause_seconds = 0.05
    error, took = fetch_failure(endorse_sim)
    assert error.reason is reason
    assert took < fetch_deadline_seconds(SETTINGS) + SLACK


def test_a_bloated_redirect_body_is_not_read(endorse_sim: EndorseSimulator) -> None:
    """A 302 with a 100 MB body: refused as a redirect at once, with memory bounded."""
    endorse_sim.fault = EndorseFault.REDIRECT_BLOAT
    endorse_sim.huge_body_bytes = 100 * 1024 * 1024
    tracemalloc.start()
    try:
        error, took = fetch_failure(endorse_sim)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.reason is EndorseFetchReason.UNEXPECTED_STATUS
    assert "302" in str(error)
    assert took < fetch_deadline_seconds(SETTINGS)
    assert peak < 4 * 1024 * 1024


def test_a_self_signed_certificate_is_a_tls_certificate_failure() -> None:
    """A server with a certificate nobody vouches for: tls_certificate, not bind_failed."""
    with EndorseSimulator() as plain:
        sim = EndorseSimulator(sim=plain.sim)
    sim.tls = self_signed_context()
    with sim:
        assert sim.url.startswith("https://")
        error, _ = fetch_failure(sim)
    assert error.reason is EndorseFetchReason.TLS_CERTIFICATE
    assert "CAP_NET_RAW" not in str(error)


def test_429_carries_its_retry_after_and_does_not_blame_the_link(
    endorse_sim: EndorseSimulator,
) -> None:
    """429 with Retry-After: 60 is rate_limited with 60 s to wait, nothing about the SIM."""
    endorse_sim.fault = EndorseFault.RATE_LIMITED
    endorse_sim.retry_after = "60"
    error, _ = fetch_failure(endorse_sim)
    assert (error.reason, error.status, error.retry_after) == (
        EndorseFetchReason.RATE_LIMITED,
        429,
        60.0,
    )
    assert "SIM" not in str(error)


def test_503_with_an_http_date_retry_after(endorse_sim: EndorseSimulator) -> None:
    """503 with Retry-After as an HTTP-date two minutes ahead: about 120 s to wait."""
    endorse_sim.fault = EndorseFault.UNAVAILABLE
    endorse_sim.retry_after = email.utils.formatdate(time.time() + 120, usegmt=True)
    error, _ = fetch_failure(endorse_sim)
    assert error.reason is EndorseFetchReason.SERVER_ERROR
    assert error.retry_after is not None and 110 < error.retry_after <= 120
