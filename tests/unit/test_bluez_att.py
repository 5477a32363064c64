"""The pure ATT rules of the fake BlueZ (Read Blob loop, truncation, writes, security)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.testbed.bluez import att
from endorse_ble.testbed.bluez.att import Security, WriteProcedure
from endorse_ble.testbed.bluez.counters import AirCounters, counter_keys

mtus = st.integers(min_value=att.MIN_MTU, max_value=att.MAX_MTU)
values = st.binary(max_size=700)


@given(value=values, mtu=mtus)
def test_offset_honouring_app_reads_intact(value: bytes, mtu: int) -> None:
    """An application that returns value[offset:] is read intact (up to 512 bytes)."""
    trace = att.simulate_read_long(lambda offset: value[offset:], mtu)
    assert trace.value == value[: att.MAX_VALUE_LEN]
    assert trace.requests == att.read_request_count(len(value), mtu)
    assert trace.offsets == tuple((mtu - 1) * i for i in range(trace.requests))


@given(value=values, mtu=mtus)
def test_stock_bless_repeats_the_prefix(value: bytes, mtu: int) -> None:
    """An application that ignores the offset is intact only when shorter than MTU-1."""
    trace = att.simulate_read_long(lambda _offset: value, mtu)
    if len(value) < mtu - 1:
        assert trace.value == value and trace.requests == 1
    elif value:
        prefix = value[: mtu - 1]
        assert len(trace.value) == att.MAX_VALUE_LEN
        assert trace.value == (prefix * (att.MAX_VALUE_LEN // len(prefix) + 1))[:512]


@given(value=values, mtu=mtus, start=st.integers(min_value=0, max_value=600))
def test_read_never_passes_offset_512(value: bytes, mtu: int, start: int) -> None:
    """A read starting at any offset stops at offset 512 and sends MTU-1 sized chunks."""
    trace = att.simulate_read_long(lambda offset: value[offset:], mtu, start)
    assert start + len(trace.value) <= max(att.MAX_VALUE_LEN, start)
    assert all(b - a == mtu - 1 for a, b in zip(trace.offsets, trace.offsets[1:], strict=False))


@pytest.mark.parametrize(
    ("value_len", "mtu", "requests"),
    [
        (0, 23, 1),
        (21, 23, 1),
        (22, 23, 2),
        (100, 23, 5),
        (300, 185, 2),
        (512, 23, 24),
        (600, 517, 1),
        (516, 517, 1),
        (300, 517, 1),
    ],
)
def test_read_request_count(value_len: int, mtu: int, requests: int) -> None:
    """Worked examples of the number of Read + Read Blob requests."""
    assert att.read_request_count(value_len, mtu) == requests


def test_server_response_truncation() -> None:
    """A response carries at most MTU-1 bytes of the value, never past 512."""
    assert att.server_read_response(bytes(600), 517) == bytes(512)
    assert att.server_read_response(b"abcdef", 5) == b"abcd"


@pytest.mark.parametrize(
    ("flags", "size", "offset", "write_type", "expected"),
    [
        (["write"], 20, 0, None, WriteProcedure.REQUEST),
        (["write"], 21, 0, None, WriteProcedure.LONG),
        (["write"], 5, 2, "request", WriteProcedure.LONG),
        (["reliable-write", "write"], 5, 0, None, WriteProcedure.RELIABLE),
        (["write-without-response"], 20, 0, None, WriteProcedure.COMMAND),
        (["write"], 20, 0, "command", WriteProcedure.COMMAND),
        (
            ["write"],
            21,
            0,
            "command",
            att.DBusErrorReply("org.bluez.Error.Failed", "Failed to initiate write"),
        ),
        (
            ["read"],
            1,
            0,
            None,
            att.DBusErrorReply("org.bluez.Error.NotSupported", "Operation is not supported"),
        ),
        (
            ["write"],
            1,
            0,
            "bogus",
            att.DBusErrorReply("org.bluez.Error.NotSupported", "Operation is not supported"),
        ),
    ],
)
def test_choose_write(
    flags: list[str], size: int, offset: int, write_type: str | None, expected: object
) -> None:
    """BlueZ's client picks the procedure (or error) from flags, size, offset and type."""
    assert att.choose_write(flags, size, offset, write_type, 23) == expected


@pytest.mark.parametrize(
    ("length", "offset", "ecode"),
    [
        (512, 0, 0),
        (513, 0, att.ATT_INVALID_ATTRIBUTE_VALUE_LEN),
        (10, 513, att.ATT_INVALID_OFFSET),
        (10, 505, att.ATT_INVALID_ATTRIBUTE_VALUE_LEN),
        (12, 500, 0),
    ],
)
def test_check_length(length: int, offset: int, ecode: int) -> None:
    """The server refuses values that would end past 512 bytes."""
    assert att.check_length(length, offset) == ecode


@given(value=st.binary(max_size=600), mtu=mtus, offset=st.integers(0, 100))
def test_prepare_chunks_cover_the_value(value: bytes, mtu: int, offset: int) -> None:
    """Prepare Write payloads are MTU-5 bytes, contiguous, and rebuild the value."""
    chunks = att.prepare_chunks(value, offset, mtu)
    assert b"".join(c for _, c in chunks) == value
    assert all(len(c) <= mtu - 5 for _, c in chunks)
    assert [o for o, _ in chunks] == [offset + i * (mtu - 5) for i in range(len(chunks))]


@pytest.mark.parametrize(
    ("flags", "write", "security", "ecode"),
    [
        (["read"], False, Security.LOW, 0),
        (["write"], False, Security.FIPS, att.ATT_READ_NOT_PERMITTED),
        (["read"], True, Security.LOW, att.ATT_WRITE_NOT_PERMITTED),
        (["encrypt-read"], False, Security.LOW, att.ATT_INSUFFICIENT_ENCRYPTION),
        (["encrypt-read"], False, Security.MEDIUM, 0),
        (
            ["encrypt-authenticated-write"],
            True,
            Security.MEDIUM,
            att.ATT_INSUFFICIENT_AUTHENTICATION,
        ),
        (["secure-read"], False, Security.HIGH, att.ATT_INSUFFICIENT_AUTHENTICATION),
        (["secure-write"], True, Security.FIPS, 0),
    ],
)
def test_access_error(flags: list[str], write: bool, security: Security, ecode: int) -> None:
    """Flags map to permissions and security levels as in gatt-database.c/gatt-server.c."""
    assert att.access_error(flags, write, security) == ecode


@pytest.mark.parametrize(
    ("name", "message", "ecode"),
    [
        ("org.bluez.Error.Failed", "0x81", 0x81),
        ("org.bluez.Error.Failed", "whatever", 0x80),
        ("org.bluez.Error.Failed", "0x05", att.ATT_UNLIKELY),
        ("org.bluez.Error.NotPermitted", "", att.ATT_READ_NOT_PERMITTED),
        ("org.bluez.Error.NotAuthorized", "", att.ATT_INSUFFICIENT_AUTHORIZATION),
        ("org.bluez.Error.InvalidOffset", "", att.ATT_INVALID_OFFSET),
        ("com.example.Error", "", att.ATT_UNLIKELY),
    ],
)
def test_app_error_to_att(name: str, message: str, ecode: int) -> None:
    """An application's D-Bus error becomes the ATT error BlueZ's server sends."""
    assert att.app_error_to_att(name, message, att.ATT_READ_NOT_PERMITTED) == ecode


@pytest.mark.parametrize(
    ("ecode", "name", "message"),
    [
        (att.ATT_INSUFFICIENT_ENCRYPTION, "org.bluez.Error.NotPermitted", "Not paired"),
        (att.ATT_READ_NOT_PERMITTED, "org.bluez.Error.NotPermitted", "Read not permitted"),
        (att.ATT_INVALID_ATTRIBUTE_VALUE_LEN, "org.bluez.Error.InvalidArguments", "Invalid Length"),
        (att.ATT_UNLIKELY, "org.bluez.Error.Failed", "Operation failed with ATT error: 0x0e"),
        (0x81, "org.bluez.Error.Failed", "Operation failed with ATT error: 0x81"),
    ],
)
def test_att_to_client_error(ecode: int, name: str, message: str) -> None:
    """The central's caller sees the D-Bus error gatt-client.c makes of an ATT error."""
    assert att.att_to_client_error(ecode) == att.DBusErrorReply(name, message)


@given(value=st.binary(max_size=600), mtu=mtus)
def test_notification_payload(value: bytes, mtu: int) -> None:
    """Notifications carry the first MTU-3 bytes."""
    assert att.notification_payload(value, mtu) == value[: mtu - 3]


@pytest.mark.parametrize("mtu", [0, 22, 518])
def test_check_mtu_rejects_out_of_range(mtu: int) -> None:
    """ATT MTUs outside 23..517 are refused."""
    with pytest.raises(ValueError, match=r"23\.\.517"):
        att.check_mtu(mtu)


def test_counters_record_and_reset() -> None:
    """Counters add PDUs and bytes per kind and in total, and reset to zeros."""
    counters = AirCounters()
    counters.record(att.OpKind.READ, "c2p", 3)
    counters.record(att.OpKind.READ, "p2c", 23)
    counters.record(att.OpKind.NOTIFICATION, "p2c", 10)
    snap = counters.snapshot()
    assert snap["read.pdus_c2p"] == 1 and snap["read.bytes_p2c"] == 23
    assert snap["total.pdus_p2c"] == 2 and snap["total.bytes_p2c"] == 33
    assert set(snap) == set(counter_keys())
    counters.reset()
    assert not any(counters.snapshot().values())
    with pytest.raises(ValueError, match="direction"):
        counters.record(att.OpKind.READ, "up", 1)


def test_notify_security_flags_guard_the_subscription() -> None:
    """encrypt-notify and the like: writing the CCCD needs that security level."""
    assert att.subscribe_error(["read", "notify"], att.Security.LOW) == 0
    assert (
        att.subscribe_error(["encrypt-notify"], att.Security.LOW) == att.ATT_INSUFFICIENT_ENCRYPTION
    )
    assert att.subscribe_error(["encrypt-notify"], att.Security.MEDIUM) == 0
    assert (
        att.subscribe_error(["secure-indicate"], att.Security.MEDIUM)
        == att.ATT_INSUFFICIENT_AUTHENTICATION
    )
    assert att.subscribe_error(["read"], att.Security.FIPS) == att.ATT_WRITE_NOT_PERMITTED


def test_indications_only_when_notifications_are_not_allowed() -> None:
    assert att.uses_indications(["indicate"])
    assert att.uses_indications(["encrypt-indicate", "read"])
    assert not att.uses_indications(["notify", "indicate"])
    assert not att.uses_indications(["notify"])
