"""Endorse traffic leaves through the cellular interface and nothing else (root, netns).

A veth pair stands in for ppp0: its host end is "the cellular interface", its other end
lives in a network namespace created for this module, where the Endorse simulator runs.
Addresses are a random 10.213.x.y/30 used only between the two ends; nothing else is
contacted.
"""

from __future__ import annotations

import os
import queue
import random
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from endorse_ble.peripheral.endorse_client import EndorseClient
from endorse_ble.peripheral.errors import EndorseFetchError, EndorseFetchReason
from endorse_ble.peripheral.settings import CellularSettings, EndorseSettings
from endorse_ble.testbed.endorse.server import EndorseSimulator

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="creating a netns and veth pair needs root"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2's `ip` is not installed"),
]

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 30.0


@dataclass(frozen=True)
class CellularStandIn:
    """A veth end playing ppp0, and the simulator reachable only through it."""

    interface: str
    namespace: str
    url: str


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def wait_for_ready(proc: subprocess.Popen[str], timeout: float) -> dict[str, str]:
    """Read KEY=VALUE lines from the simulator until READY; fail on exit or timeout."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    values: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        if line is None:
            raise RuntimeError(f"simulator exited with {proc.wait()} before READY")
        if line == "READY":
            return values
        key, _, value = line.partition("=")
        values[key] = value


@pytest.fixture(scope="module")
def cellular(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CellularStandIn]:
    """A namespace + veth pair with the simulator inside; always torn down."""
    suffix = secrets.token_hex(3)
    namespace, host_if, ns_if = f"ebt-{suffix}", f"ebh{suffix}", f"ebn{suffix}"
    base = f"10.213.{random.randrange(256)}.{4 * random.randrange(64)}"
    prefix, last = base.rsplit(".", 1)
    host_addr, ns_addr = f"{prefix}.{int(last) + 1}", f"{prefix}.{int(last) + 2}"
    log = tmp_path_factory.mktemp("netns") / "simulator.log"
    proc: subprocess.Popen[str] | None = None
    created: list[str] = []  # tear down only what this fixture made
    try:
        ip("netns", "add", namespace)
        created.append("netns")
        ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        created.append("veth")
        ip("link", "set", ns_if, "netns", namespace)
        ip("addr", "add", f"{host_addr}/30", "dev", host_if)
        ip("link", "set", host_if, "up")
        ip("-n", namespace, "addr", "add", f"{ns_addr}/30", "dev", ns_if)
        ip("-n", namespace, "link", "set", ns_if, "up")
        with log.open("w") as stderr:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", namespace, sys.executable, "-m", "endorse_ble.testbed",
                 "endorse", "--host", ns_addr, "--port", "0"],
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )  # fmt: skip
        try:
            values = wait_for_ready(proc, READY_TIMEOUT)
        except (RuntimeError, queue.Empty) as exc:
            pytest.fail(f"simulator in {namespace} not ready: {exc}: {log.read_text()}")
        yield CellularStandIn(host_if, namespace, values["ENDORSE_URL"])
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        # Deleting the namespace deletes its veth end, which deletes the pair; the pair is
        # deleted first in case it never moved into the namespace.
        if "veth" in created and Path("/sys/class/net", host_if).exists():
            subprocess.run(["ip", "link", "del", host_if], capture_output=True, check=False)
        if "netns" in created:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)


def client_for(url: str, interface: str) -> EndorseClient:
    settings = EndorseSettings(url=url, connect_timeout_seconds=1.0, read_timeout_seconds=2.0)
    return EndorseClient(settings, CellularSettings(interface=interface))


def test_a_client_bound_to_the_interface_fetches_a_token_across_it(
    cellular: CellularStandIn,
) -> None:
    """Bound to the stand-in ppp0, the client reaches the simulator behind it."""
    with client_for(cellular.url, cellular.interface) as client:
        token = client.fetch("over-the-link")
    assert token.nonce == "over-the-link"
    assert token.claim.imsi == "440103123456789"


def test_a_client_bound_to_the_interface_cannot_reach_loopback(
    cellular: CellularStandIn, endorse_sim: EndorseSimulator
) -> None:
    """Bound to the stand-in ppp0, 127.0.0.1 is unreachable; unbound it is reachable."""
    with (
        client_for(endorse_sim.url, cellular.interface) as client,
        pytest.raises(EndorseFetchError) as caught,
    ):
        client.fetch()
    assert caught.value.reason in (
        EndorseFetchReason.CONNECT_FAILED,
        EndorseFetchReason.NO_ROUTE,
        EndorseFetchReason.CONNECT_TIMEOUT,
    )
    assert endorse_sim.token_requests == 0
    # The control: the same simulator answers a client tied to loopback.
    with client_for(endorse_sim.url, "lo") as client:
        client.fetch()
    assert endorse_sim.token_requests == 1


def test_a_down_interface_fails_fast_with_its_reason(cellular: CellularStandIn) -> None:
    """With the stand-in ppp0 down, the fetch fails at once as INTERFACE_DOWN."""
    ip("link", "set", cellular.interface, "down")
    try:
        with client_for(cellular.url, cellular.interface) as client:
            started = time.monotonic()
            with pytest.raises(EndorseFetchError) as caught:
                client.fetch()
        assert caught.value.reason is EndorseFetchReason.INTERFACE_DOWN
        assert repr(cellular.interface) in str(caught.value)
        assert time.monotonic() - started < 0.1
    finally:
        ip("link", "set", cellular.interface, "up")


def test_an_absent_interface_fails_fast_with_its_reason(cellular: CellularStandIn) -> None:
    """An interface name that does not exist fails at once as INTERFACE_MISSING."""
    with client_for(cellular.url, cellular.interface + "x") as client:
        started = time.monotonic()
        with pytest.raises(EndorseFetchError) as caught:
            client.fetch()
    assert caught.value.reason is EndorseFetchReason.INTERFACE_MISSING
    assert time.monotonic() - started < 0.1
