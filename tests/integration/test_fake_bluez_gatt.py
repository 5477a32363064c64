"""Real bless and real bleak, in separate processes, through the fake BlueZ."""

from __future__ import annotations

from pathlib import Path

import pytest

from endorse_ble.testbed.bluez import att
from endorse_ble.testbed.bluez.harness import running_fake_bluez
from endorse_ble.testbed.bluez.pytest_fixtures import FakeBluezHandle
from endorse_ble.testbed.bluez.sample_profile import (
    ENCRYPTED_UUID,
    NOTIFY_PREFIX,
    NOTIFY_UUID,
    READ_UUID,
    SHORT_UUID,
    WRITE_UUID,
    pattern,
)

pytestmark = pytest.mark.integration


def _stock_bless_read(value: bytes, mtu: int) -> att.ReadTrace:
    """What BlueZ's Read Blob loop makes of an app that ignores the offset."""
    return att.simulate_read_long(lambda _offset: value, mtu)


@pytest.mark.parametrize("fake_bluez", [23, 517], indirect=True)
async def test_read_write_notify_and_counters(fake_bluez: FakeBluezHandle) -> None:
    """The default flow works at MTU 23 and 517 and the counters match what crossed."""
    peripheral = await fake_bluez.start_peripheral("--read-size", "100")
    await fake_bluez.control.reset_counters()
    status, result = await fake_bluez.run_central()
    assert status == 0, result
    by_op = {r["op"]: r for r in result["results"]}
    trace = _stock_bless_read(pattern(100), fake_bluez.mtu)
    assert bytes.fromhex(by_op["read"]["value"]) == trace.value
    assert (trace.value == pattern(100)) is (fake_bluez.mtu == 517)
    assert bytes.fromhex(by_op["notify"]["value"]) == NOTIFY_PREFIX + b"ping"

    counters = await fake_bluez.control.counters()
    assert counters["read.pdus_c2p"] == 1
    assert counters["read_blob.pdus_c2p"] == trace.requests - 1
    # Every response carries what the server sent, even the part the client discards.
    response = att.server_read_response(pattern(100), fake_bluez.mtu)
    assert counters["read.bytes_p2c"] + counters["read_blob.bytes_p2c"] == (
        trace.requests * (att.READ_RSP_HEADER + len(response))
    )
    assert counters["write_req.pdus_c2p"] == 2  # "hello" and the notify trigger "ping"
    assert counters["write_req.bytes_c2p"] == 2 * att.WRITE_REQ_HEADER + len(b"hello" + b"ping")
    assert counters["write_cmd.pdus_c2p"] == 1
    assert counters["write_cmd.pdus_p2c"] == 0
    assert counters["notification.pdus_p2c"] == 1
    assert counters["notification.bytes_p2c"] == att.NOTIFICATION_HEADER + 8
    assert counters["cccd_write.pdus_c2p"] == 2

    assert peripheral.stdout is not None
    writes = [(await peripheral.stdout.readline()).decode().split() for _ in range(3)]
    assert [bytes.fromhex(w[2]) for w in writes] == [b"hello", b"quiet", b"ping"]
    state = await fake_bluez.control.state()
    assert state.connections == 0 and state.applications == 1


@pytest.mark.parametrize("fake_bluez", [23], indirect=True)
async def test_stock_bless_long_value_comes_back_as_repeated_prefix(
    fake_bluez: FakeBluezHandle,
) -> None:
    """A 300-byte value read through stock bless is a repeated prefix at MTU 23 and 185,
    intact at 517, and a value shorter than MTU-1 is intact."""
    await fake_bluez.start_peripheral("--read-size", "300", "--short-size", "20")
    for mtu in (23, 185, 517):
        await fake_bluez.control.set_mtu(mtu)
        await fake_bluez.control.reset_counters()
        status, result = await fake_bluez.run_central(
            "--op", f"read:{READ_UUID}", "--op", f"read:{SHORT_UUID}"
        )
        assert status == 0, result
        long_value = bytes.fromhex(result["results"][0]["value"])
        short_value = bytes.fromhex(result["results"][1]["value"])
        if mtu < 300 + 1:
            assert long_value != pattern(300)
            assert len(long_value) == att.MAX_VALUE_LEN
            assert long_value[: mtu - 1] == long_value[mtu - 1 : 2 * (mtu - 1)]
        else:
            assert long_value == pattern(300)
        assert short_value == pattern(20)
        counters = await fake_bluez.control.counters()
        expected = _stock_bless_read(pattern(300), mtu).requests + 1
        assert counters["total.pdus_c2p"] == expected


async def test_encrypted_characteristic_refused_until_paired(fake_bluez: FakeBluezHandle) -> None:
    """Reading or writing an encrypt-read/encrypt-write characteristic fails until Pair."""
    await fake_bluez.start_peripheral("--pairable")
    status, result = await fake_bluez.run_central("--op", f"read:{ENCRYPTED_UUID}")
    assert status == 1
    assert "Not paired" in result["results"][0]["detail"]
    status, result = await fake_bluez.run_central("--op", f"write:{ENCRYPTED_UUID}:{b'x'.hex()}")
    assert status == 1 and "Not paired" in result["results"][0]["detail"]
    status, result = await fake_bluez.run_central(
        "--pair", "--op", f"read:{ENCRYPTED_UUID}", "--op", f"write:{ENCRYPTED_UUID}:{b'new'.hex()}"
    )
    assert status == 0, result
    assert bytes.fromhex(result["results"][0]["value"]) == b"secret"


@pytest.mark.parametrize(
    ("op", "size", "detail"),
    [
        ("write-cmd", 21, "Failed to initiate write"),  # over MTU-3 at MTU 23
        ("write", 513, "INVALID_ATTRIBUTE_VALUE_LENGTH"),  # long write past 512
    ],
)
async def test_oversize_writes_refused(
    fake_bluez: FakeBluezHandle, op: str, size: int, detail: str
) -> None:
    """Writes BlueZ cannot carry are refused with BlueZ's error; the app sees nothing."""
    peripheral = await fake_bluez.start_peripheral()
    status, result = await fake_bluez.run_central("--op", f"{op}:{WRITE_UUID}:{'ab' * size}")
    assert status == 1
    assert detail in result["results"][0]["detail"]
    await fake_bluez.control.reset_counters()
    status, result = await fake_bluez.run_central("--op", f"write:{WRITE_UUID}:{'cd' * 200}")
    assert status == 0, result
    assert peripheral.stdout is not None
    line = (await peripheral.stdout.readline()).decode()
    assert line.split() == ["WRITE", WRITE_UUID, "cd" * 200]
    counters = await fake_bluez.control.counters()
    assert counters["prepare_write.pdus_c2p"] == -(-200 // (23 - att.PREPARE_HEADER))
    assert counters["execute_write.pdus_c2p"] == 1


async def test_drop_after_n_requests_fails_the_read_midway(fake_bluez: FakeBluezHandle) -> None:
    """DropAfter(3) lets three ATT requests through, then the read fails and the link is gone."""
    await fake_bluez.start_peripheral("--read-size", "300")
    await fake_bluez.control.reset_counters()
    await fake_bluez.control.drop_after(3)
    status, result = await fake_bluez.run_central("--op", f"read:{READ_UUID}")
    assert status == 1
    assert result["results"][0]["error"] == "BleakGATTProtocolError"
    assert "UNLIKELY" in result["results"][0]["detail"]
    counters = await fake_bluez.control.counters()
    assert counters["read.pdus_c2p"] + counters["read_blob.pdus_c2p"] == 3
    assert (await fake_bluez.control.state()).connections == 0


async def test_refused_connect_then_next_connect_works(fake_bluez: FakeBluezHandle) -> None:
    """RefuseNextConnect fails exactly one connection attempt."""
    await fake_bluez.start_peripheral()
    await fake_bluez.control.refuse_next_connect()
    status, result = await fake_bluez.run_central("--op", f"read:{SHORT_UUID}")
    assert status == 1 and "le-connection-refused" in result["detail"]
    status, result = await fake_bluez.run_central("--op", f"read:{SHORT_UUID}")
    assert status == 0, result


async def test_notification_truncated_to_mtu_minus_3(fake_bluez: FakeBluezHandle) -> None:
    """A notification longer than MTU-3 arrives cut to MTU-3 bytes."""
    await fake_bluez.start_peripheral()
    payload = bytes(range(30))
    status, result = await fake_bluez.run_central(
        "--op", f"notify:{NOTIFY_UUID}:{WRITE_UUID}:{payload.hex()}"
    )
    assert status == 0, result
    assert bytes.fromhex(result["results"][0]["value"]) == (NOTIFY_PREFIX + payload)[:20]


async def test_indications_are_confirmed_one_at_a_time(fake_bluez: FakeBluezHandle) -> None:
    """A characteristic that indicates: each value crosses as an indication, and each is
    confirmed by the central before the server sends the next."""
    await fake_bluez.start_peripheral("--indicate")
    await fake_bluez.control.reset_counters()
    status, result = await fake_bluez.run_central(
        "--op", f"notify:{NOTIFY_UUID}:{WRITE_UUID}:{b'ping'.hex()}"
    )
    assert status == 0, result
    assert bytes.fromhex(result["results"][0]["value"]) == NOTIFY_PREFIX + b"ping"
    counters = await fake_bluez.control.counters()
    assert counters["indication.pdus_p2c"] >= 1
    assert counters["indication.pdus_c2p"] == counters["indication.pdus_p2c"]
    assert counters.get("notification.pdus_p2c", 0) == 0


@pytest.mark.parametrize("fake_bluez", [185], indirect=True)
async def test_acquired_sockets_give_mtu_and_notifications(fake_bluez: FakeBluezHandle) -> None:
    """AcquireWrite reports the ATT MTU; AcquireNotify delivers notifications on a socket."""
    await fake_bluez.start_peripheral()
    await fake_bluez.control.reset_counters()
    status, result = await fake_bluez.run_central(
        "--op", "mtu", "--op", f"notify-acquired:{NOTIFY_UUID}:{WRITE_UUID}:{b'sock'.hex()}"
    )
    assert status == 0, result
    assert result["results"][0]["mtu"] == 185
    assert bytes.fromhex(result["results"][1]["value"]) == NOTIFY_PREFIX + b"sock"
    counters = await fake_bluez.control.counters()
    assert counters["notification.pdus_p2c"] == 1
    # The CCCD is enabled once; whether it is cleared before the link goes down depends on
    # whether the socket close or the Disconnect reaches BlueZ first (both are faithful).
    assert counters["cccd_write.pdus_c2p"] in (1, 2)


@pytest.mark.parametrize(
    ("error_name", "detail"),
    [
        ("org.bluez.Error.NotAuthorized", "INSUFFICIENT_AUTHORIZATION"),
        ("org.bluez.Error.NotPermitted", "READ_NOT_PERMITTED"),
    ],
)
async def test_application_errors_reach_the_central(
    fake_bluez: FakeBluezHandle, error_name: str, detail: str
) -> None:
    """An org.bluez.Error raised by the app's ReadValue arrives as BlueZ's ATT error."""
    await fake_bluez.start_peripheral("--refuse-short", error_name)
    status, result = await fake_bluez.run_central("--op", f"read:{SHORT_UUID}")
    assert status == 1
    assert result["results"][0]["error"] == "BleakGATTProtocolError"
    assert detail in result["results"][0]["detail"]


async def test_two_testbeds_do_not_see_each_other(
    fake_bluez: FakeBluezHandle, tmp_path: Path
) -> None:
    """A peripheral on one fake BlueZ is invisible to a central on another one."""
    async with running_fake_bluez(23, tmp_path) as other:
        await fake_bluez.start_peripheral()
        status, result = await other.run_central("--timeout", "1")
        assert status == 1 and result["error"] == "not_found"
        assert other.central_bus != fake_bluez.central_bus
