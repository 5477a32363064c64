"""The pairing window: its pure decisions, its control protocol, and its timing on a
virtual clock (the BlueZ seam replaced by a recording stand-in for bluetoothd)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from endorse_ble.peripheral.control_protocol import (
    BondedDevice,
    CloseWindowRequest,
    ControlRequestError,
    ListBondsRequest,
    OpenWindowRequest,
    RemoveBondRequest,
    Reply,
    format_reply,
    format_request,
    parse_reply,
    parse_request,
)
from endorse_ble.peripheral.errors import PeripheralError
from endorse_ble.peripheral.pairing_service import AgentPolicy, PairingService
from endorse_ble.peripheral.pairing_window import (
    MAX_WINDOW_SECONDS,
    PairingWindow,
    WindowError,
    check_passkey,
    check_window_seconds,
)
from endorse_ble.testbed.clock import VirtualClock


@given(
    seconds=st.integers(1, MAX_WINDOW_SECONDS),
    start=st.floats(0, 1e6),
    later=st.floats(0, 2 * MAX_WINDOW_SECONDS),
)
def test_a_window_approves_exactly_until_its_end(seconds: int, start: float, later: float) -> None:
    window = PairingWindow()
    assert not window.may_pair(start)
    opened = window.open(seconds, start, 1_800_000_000.0)
    now = start + later
    assert window.may_pair(now) is (now < opened.ends_at)
    assert window.due(now) is (now >= opened.ends_at)
    window.close()
    assert not window.may_pair(start) and not window.due(now)


def test_reopening_replaces_the_end() -> None:
    window = PairingWindow()
    window.open(10, 100.0, 0.0)
    window.open(60, 105.0, 5.0)
    assert window.may_pair(160.0) and not window.may_pair(165.0)


@pytest.mark.parametrize("seconds", [0, -1, MAX_WINDOW_SECONDS + 1, 1.5, float("nan")])
def test_window_lengths_out_of_range_are_refused(seconds: float) -> None:
    with pytest.raises(WindowError):
        check_window_seconds(seconds)


def test_passkeys_are_six_digits() -> None:
    assert check_passkey(0) is None and check_passkey(999_999) is None
    assert check_passkey(1_000_000) is not None and check_passkey(-1) is not None


ADDRESSES = st.from_regex(r"[0-9A-F]{2}(:[0-9A-F]{2}){5}", fullmatch=True)
REQUESTS = st.one_of(
    st.builds(OpenWindowRequest, st.integers(1, MAX_WINDOW_SECONDS)),
    st.just(CloseWindowRequest()),
    st.just(ListBondsRequest()),
    st.builds(RemoveBondRequest, ADDRESSES),
)


@given(REQUESTS)
def test_requests_survive_the_line(request: OpenWindowRequest) -> None:
    assert parse_request(format_request(request)) == request


@given(st.binary(max_size=100))
def test_any_line_is_a_request_or_a_one_line_refusal(line: bytes) -> None:
    try:
        parse_request(line)
    except ControlRequestError as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize(
    "line", [b"OPEN 0", b"OPEN 601", b"OPEN -5", b"OPEN", b"REMOVE nope", b"LIST x", b"HELLO"]
)
def test_bad_requests_are_refused(line: bytes) -> None:
    with pytest.raises(ControlRequestError):
        parse_request(line)


def test_lower_case_addresses_are_spelled_as_bluez_does() -> None:
    assert parse_request(b"remove aa:bb:cc:dd:ee:ff\n") == RemoveBondRequest("AA:BB:CC:DD:EE:FF")


def test_replies_survive_the_line() -> None:
    reply = Reply(True, "1 bonded device(s)", (BondedDevice("C0:FF:EE:00:00:02", "x", True),))
    assert parse_reply(format_reply(reply)) == reply
    with pytest.raises(ControlRequestError):
        parse_reply(b'{"ok": 1}\n')


class RecordingBluez:
    """Stands in for bluetoothd at the PairingAdapter seam: records, or fails on demand."""

    def __init__(self, policy: AgentPolicy) -> None:
        self.policy = policy
        self.calls: list[str] = []
        self.fail_open = False

    async def open(self, seconds: int) -> None:
        self.calls.append(f"open {seconds}")
        if self.fail_open:
            raise PeripheralError("BlueZ refused RegisterAgent")

    async def close(self) -> None:
        self.calls.append("close")

    async def bonds(self) -> list[BondedDevice]:
        return [BondedDevice("C0:FF:EE:00:00:02", "laptop", False)]

    async def remove(self, address: str) -> bool:
        self.calls.append(f"remove {address}")
        return address == "C0:FF:EE:00:00:02"

    async def stop(self) -> None:
        self.calls.append("stop")


@pytest.fixture
async def clock() -> VirtualClock:
    virtual = VirtualClock(epoch=1_800_000_000.0, start=50.0)
    virtual.attach()
    return virtual


def _service(clock: VirtualClock) -> tuple[PairingService, list[RecordingBluez], list[str | None]]:
    made: list[RecordingBluez] = []
    changes: list[str | None] = []

    def make(policy: AgentPolicy) -> RecordingBluez:
        made.append(RecordingBluez(policy))
        return made[0]

    service = PairingService(make, clock, lambda: changes.append(service.describe()))
    return service, made, changes


async def test_the_window_closes_by_itself_at_its_end(clock: VirtualClock) -> None:
    service, (bluez,), changes = _service(clock)
    reply = await service.handle(OpenWindowRequest(30))
    assert reply.ok and "pairing open until" in reply.message
    assert bluez.policy.may_pair() and bluez.calls == ["open 30"]
    await clock.advance(29.9)
    assert bluez.policy.may_pair() and bluez.calls == ["open 30"]
    await clock.advance(0.1)
    assert not bluez.policy.may_pair()
    assert bluez.calls == ["open 30", "close"]
    assert changes == ["pairing open until 08:00:30 UTC", None]
    assert service.describe() is None


async def test_reopening_moves_the_close(clock: VirtualClock) -> None:
    service, (bluez,), _ = _service(clock)
    await service.handle(OpenWindowRequest(30))
    await clock.advance(20)
    await service.handle(OpenWindowRequest(30))
    await clock.advance(20)
    assert bluez.policy.may_pair() and "close" not in bluez.calls
    await clock.advance(10)
    assert not bluez.policy.may_pair() and bluez.calls[-1] == "close"


async def test_a_window_bluez_refuses_is_undone(clock: VirtualClock) -> None:
    service, (bluez,), _ = _service(clock)
    bluez.fail_open = True
    reply = await service.handle(OpenWindowRequest(30))
    assert not reply.ok and "RegisterAgent" in reply.message
    assert not bluez.policy.may_pair() and bluez.calls == ["open 30", "close"]
    assert service.describe() is None


async def test_close_list_remove_and_stop(clock: VirtualClock) -> None:
    service, (bluez,), _ = _service(clock)
    assert (await service.handle(CloseWindowRequest())).message == "no window was open"
    await service.handle(OpenWindowRequest(30))
    assert (await service.handle(CloseWindowRequest())).message == "pairing window closed"
    assert not bluez.policy.may_pair()
    listed = await service.handle(ListBondsRequest())
    assert [d.address for d in listed.devices] == ["C0:FF:EE:00:00:02"]
    assert (await service.handle(RemoveBondRequest("C0:FF:EE:00:00:02"))).ok
    assert not (await service.handle(RemoveBondRequest("C0:FF:EE:00:00:09"))).ok
    await service.handle(OpenWindowRequest(30))
    await service.stop()
    assert bluez.calls[-2:] == ["close", "stop"] and not bluez.policy.may_pair()
    await clock.settle()
    assert clock.pending_sleepers == 0


async def test_a_new_adapter_after_a_reload_closes_the_window(clock: VirtualClock) -> None:
    service, made, changes = _service(clock)
    await service.handle(OpenWindowRequest(30))
    fresh = RecordingBluez(made[0].policy)
    await service.replace_adapter(lambda _policy: fresh)
    assert made[0].calls == ["open 30", "close", "stop"] and changes[-1] is None
    assert not made[0].policy.may_pair()
    await service.handle(OpenWindowRequest(10))
    assert fresh.calls == ["open 10"] and fresh.policy.may_pair()
