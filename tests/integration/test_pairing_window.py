"""The pairing window the daemon runs: the real daemon and its real ``pair`` command, the
real laptop CLI (bleak) bonding through the fake BlueZ, whose hci0 bonds only while it is
Pairable and the daemon's agent approves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from endorse_ble.testbed.bluez.fake import laptop_address
from endorse_ble.testbed.bluez.harness import FakeBluezHandle
from endorse_ble.testbed.gateway.process import GatewayProcess
from endorse_ble.testbed.gateway.pytest_fixtures import CliResult, run_cli

pytestmark = pytest.mark.integration

TWO_LAPTOPS = {"laptops": 2}
LAPTOP = laptop_address(0)
STRANGER = laptop_address(1)


async def token(fake_bluez: FakeBluezHandle, adapter: str, *extra: str) -> CliResult:
    return await run_cli(
        fake_bluez, "endorse_ble.central", "token", "--adapter", adapter,
        "--scan-timeout", "10", "-q", *extra, laptop=adapter,
    )  # fmt: skip


@pytest.mark.parametrize("fake_bluez", [TWO_LAPTOPS], indirect=True)
@pytest.mark.parametrize("gateway", [{"require_encryption": True}], indirect=True)
async def test_a_window_lets_one_laptop_bond_then_closes_and_keeps_strangers_out(
    fake_bluez: FakeBluezHandle, gateway: GatewayProcess
) -> None:
    """A laptop bonds inside the window; the window closes by itself (STATUS says so);
    a second laptop can then no longer bond, the first keeps its bond until removed."""
    early = await token(fake_bluez, "hci1", "--pair")  # no window yet
    assert early.returncode == 3 and "pair --open" in early.stderr, early.stderr

    await gateway.open_pairing(60)
    bonded = await token(fake_bluez, "hci1", "--pair")
    assert bonded.returncode == 0, bonded.stderr

    # A short window now, and its end awaited: the daemon closes it by itself. While a
    # window is open every STATUS leads with it, so the first one from here that does not
    # is the close.
    seen = len(gateway.notify.messages)
    shortened = await gateway.pair("--open", "1")
    assert shortened.returncode == 0 and "pairing open until" in shortened.stdout
    await gateway.notify.wait_for_match(
        "STATUS", lambda s: not s.startswith("pairing open"), after=seen
    )
    assert "pairing window closed by itself" in gateway.log_text()

    refused = await token(fake_bluez, "hci2", "--pair")
    assert refused.returncode == 3, refused.stderr
    assert "the gateway refused pairing" in refused.stderr and refused.stderr.count("\n") == 1
    again = await token(fake_bluez, "hci1")  # bonded: no --pair needed, no window needed
    assert again.returncode == 0, again.stderr

    listed = await gateway.pair("--list")
    assert listed.returncode == 0 and LAPTOP in listed.stdout and STRANGER not in listed.stdout
    removed = await gateway.pair("--remove", LAPTOP.lower())
    assert removed.returncode == 0, removed.stderr
    assert "no bonded devices" in (await gateway.pair("--list")).stdout
    gone = await gateway.pair("--remove", LAPTOP)
    assert gone.returncode == 1 and gone.stderr.count("\n") == 1


@pytest.mark.parametrize("gateway", [{"pairing_passkey": 246810}], indirect=True)
async def test_a_static_passkey_is_entered_by_the_daemons_agent(
    fake_bluez: FakeBluezHandle, gateway: GatewayProcess
) -> None:
    """With [ble] pairing_passkey, BlueZ asks the agent for the passkey (passkey entry);
    it is never logged."""
    await gateway.open_pairing(60)
    bonded = await token(fake_bluez, "hci1", "--pair")
    assert bonded.returncode == 0, bonded.stderr
    assert "pairing approved: passkey entry" in gateway.log_text()
    assert "246810" not in gateway.log_text()
    assert LAPTOP in (await gateway.pair("--list")).stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--list"], "is endorse-peripheral running?"),
        (["--open", "0"], "1-600 seconds"),
        (["--remove", "nope"], "not a Bluetooth address"),
    ],
)
def test_pair_says_what_is_wrong_in_one_line(tmp_path: Path, args: list[str], words: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "endorse_ble.peripheral", "pair", "--socket",
         str(tmp_path / "control.sock"), *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode in (1, 2)
    assert words in result.stderr and result.stderr.count("\n") == 1, result.stderr
