"""The profile client's rules, over a scripted GATT link: no D-Bus, no radio."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from endorse_ble.central.errors import BleReadError, ReadFailure
from endorse_ble.central.profile_client import AttError, ProfileClient, ReaderOptions
from endorse_ble.testbed.endorse_keys import EndorseSigner, SimIdentity
from endorse_ble.tokenlink import profile

NONCE = "nonce-ours-AAAAAAAAAA"


@pytest.fixture(scope="module")
def signer() -> EndorseSigner:
    return EndorseSigner()


@dataclass
class Gateway:
    """What a gateway serves, changed by the test or by scripted reactions to writes."""

    served: profile.ServedToken = field(
        default_factory=lambda: profile.ServedToken(profile.empty_info(), ())
    )
    status: dict[str, object] = field(default_factory=lambda: {"v": 1, "refused": []})
    writes: list[tuple[str, bytes]] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    #: Called on each write (uuid, data); may raise AttError or BleReadError.
    on_write: Callable[[str, bytes], None] = lambda uuid, data: None
    #: Called before each page read (index): lets a test rotate the token mid-read.
    on_page: Callable[[int], None] = lambda index: None
    is_paired: bool | None = None
    notify: Callable[[bytes], None] | None = None

    def serve(self, served: profile.ServedToken, status: dict[str, object] | None = None) -> None:
        self.served = served
        if status is not None:
            self.status = status
        if self.notify is not None:
            self.notify(served.info_bytes)


class ScriptedLink:
    def __init__(self, gateway: Gateway, notifications: bool = True) -> None:
        self.gateway = gateway
        self.notifications = notifications

    async def read(self, uuid: str) -> bytes:
        await asyncio.sleep(0)
        gw = self.gateway
        gw.reads.append(uuid)
        if uuid == profile.INFO_UUID:
            return gw.served.info_bytes
        if uuid == profile.STATUS_UUID:
            return profile.encode_status(gw.status)
        index = int(uuid[6:8], 16)
        gw.on_page(index)
        pages = gw.served.pages
        return pages[index] if index < len(pages) else b""

    async def write(self, uuid: str, data: bytes) -> None:
        await asyncio.sleep(0)
        self.gateway.writes.append((uuid, data))
        self.gateway.on_write(uuid, data)

    async def subscribe(self, uuid: str, callback: Callable[[bytes], None]) -> bool:
        if self.notifications:
            self.gateway.notify = callback
        return self.notifications

    async def paired(self) -> bool | None:
        return self.gateway.is_paired


def served(
    signer: EndorseSigner, nonce: str | None, generation: int, **kw: object
) -> profile.ServedToken:
    params = {"nonce": nonce} if nonce else None
    raw = signer.mint(SimIdentity(), request_parameters=params)
    return profile.serve_token(
        raw,
        expires_at=int(time.time()) + 600,
        generation=generation,
        nonce=nonce,
        **kw,  # type: ignore[arg-type]
    )


def client(
    gateway: Gateway, timeout: float = 5.0, pair: bool = False, notify: bool = True
) -> ProfileClient:
    return ProfileClient(
        ScriptedLink(gateway, notify), ReaderOptions(challenge_timeout=timeout, pair=pair)
    )


def answer_after_write(gateway: Gateway, signer: EndorseSigner, generation: int = 2) -> None:
    """Serve the answer to each nonce written, as the gateway would after its fetch."""

    def on_write(uuid: str, data: bytes) -> None:
        nonce = data.decode()
        fetching = profile.ServedToken(
            profile.empty_info(challenge_state=profile.ChallengeState.FETCHING), ()
        )
        gateway.serve(
            fetching, {"v": 1, "challenge": {"state": "fetching", "tag": profile.nonce_tag(nonce)}}
        )
        asyncio.get_running_loop().call_soon(
            gateway.serve,
            served(signer, nonce, generation, challenge_state=profile.ChallengeState.READY),
            {"v": 1, "challenge": {"state": "ready", "tag": profile.nonce_tag(nonce)}},
        )

    gateway.on_write = on_write


async def test_fresh_token_is_read_once_its_answer_is_served(signer: EndorseSigner) -> None:
    gateway = Gateway()
    answer_after_write(gateway, signer)
    result = await client(gateway).challenge(NONCE)
    assert result.nonce == NONCE
    assert result.info.nonce_tag == profile.nonce_tag(NONCE)
    assert gateway.writes == [(profile.CHALLENGE_UUID, NONCE.encode())]


async def test_torn_read_is_retried_then_given_up(signer: EndorseSigner) -> None:
    """A rotation between pages is detected and read again; a token that keeps rotating
    fails after max_torn_retries more attempts (4 in all by default)."""
    gateway = Gateway(served=served(signer, None, 1))
    rotations = iter(range(2, 100))

    def rotate(index: int) -> None:
        if index == 0:
            gateway.served = served(signer, None, next(rotations))

    gateway.on_page = rotate
    with pytest.raises(BleReadError) as caught:
        await client(gateway).read_served()
    assert caught.value.reason is ReadFailure.TORN
    assert gateway.reads.count(profile.INFO_UUID) == 1 + 4


async def test_busy_is_waited_out_and_written_again(signer: EndorseSigner) -> None:
    """Another central's challenge in flight: the write is refused busy; when Info changes
    the client writes again and gets its own answer."""
    gateway = Gateway()
    refusals = [AttError(profile.ATT_CHALLENGE_BUSY, "busy")]

    def busy_then_answer(uuid: str, data: bytes) -> None:
        if refusals:
            exc = refusals.pop()
            asyncio.get_running_loop().call_soon(
                gateway.serve, served(signer, "other-nonce-BBBB", 7)
            )
            raise exc
        answer_after_write(gateway, signer)
        gateway.on_write(uuid, data)

    gateway.on_write = busy_then_answer
    result = await client(gateway).challenge(NONCE)
    assert result.info.nonce_tag == profile.nonce_tag(NONCE)
    assert len(gateway.writes) == 2


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (
            [
                {"tag": 1, "why": "budget", "next_in": 5},
                {"tag": "OURS", "why": "budget", "next_in": 40},
            ],
            ["this laptop's budget", "next is allowed in 40 s"],
        ),
        ([{"tag": "OURS", "why": "ceiling", "next_in": 170}], ["hourly limit", "170 s"]),
        ([{"tag": 1, "why": "budget", "next_in": 5}], ["budget"]),
    ],
    ids=["budget", "ceiling", "not-listed"],
)
async def test_budget_refusal_names_why_and_the_wait_from_status(
    entries: list[dict[str, object]], expected: list[str]
) -> None:
    """ATT 0x82: the reason and wait come from Status's entry with our nonce's tag."""
    ours = profile.nonce_tag(NONCE)
    refused = [{**e, "tag": ours if e["tag"] == "OURS" else e["tag"]} for e in entries]
    gateway = Gateway(status={"v": 1, "refused": refused})

    def refuse(uuid: str, data: bytes) -> None:
        raise AttError(profile.ATT_CHALLENGE_REFUSED, "refused")

    gateway.on_write = refuse
    with pytest.raises(BleReadError) as caught:
        await client(gateway).challenge(NONCE)
    assert caught.value.reason is ReadFailure.BUDGET
    assert all(text in str(caught.value) for text in expected), str(caught.value)


async def test_another_centrals_failure_is_not_ours(signer: EndorseSigner) -> None:
    """FAILED with another nonce's tag means a later challenge (not ours) failed: ours was
    overtaken, so the client writes again; FAILED with our tag ends with the reason."""
    gateway = Gateway()
    failed = profile.ServedToken(
        profile.empty_info(challenge_state=profile.ChallengeState.FAILED), ()
    )

    def fail_others_then_ours(uuid: str, data: bytes) -> None:
        ours = profile.nonce_tag(data.decode())
        tag, error = (ours ^ 1, "theirs") if len(gateway.writes) == 1 else (ours, "no network")
        gateway.serve(
            failed, {"v": 1, "challenge": {"state": "failed", "tag": tag}, "error": error}
        )

    gateway.on_write = fail_others_then_ours
    with pytest.raises(BleReadError) as caught:
        await client(gateway).challenge(NONCE)
    assert caught.value.reason is ReadFailure.CHALLENGE_FAILED
    assert "no network" in str(caught.value)
    assert len(gateway.writes) == 2


async def test_answer_replaced_before_read_is_asked_for_again(signer: EndorseSigner) -> None:
    gateway = Gateway()
    attempts: list[str] = []

    def replaced_first(uuid: str, data: bytes) -> None:
        nonce = data.decode()
        attempts.append(nonce)
        tag = profile.nonce_tag(nonce)
        if len(attempts) == 1:
            # Answered, then replaced by another central's answer before we read it.
            gateway.serve(
                served(signer, "theirs-CCCCCCCC", 3, challenge_state=profile.ChallengeState.READY),
                {"v": 1, "challenge": {"state": "ready", "tag": 99}},
            )
            return
        gateway.serve(
            served(signer, nonce, 4, challenge_state=profile.ChallengeState.READY),
            {"v": 1, "challenge": {"state": "ready", "tag": tag}},
        )

    gateway.on_write = replaced_first
    result = await client(gateway).challenge(NONCE)
    assert len(attempts) == 2 and result.info.nonce_tag == profile.nonce_tag(NONCE)


async def test_paired_link_uses_the_bonded_challenge_and_falls_back(signer: EndorseSigner) -> None:
    """A paired laptop writes Bonded Challenge; if BlueZ refuses it for want of keys, the
    plain Challenge is used from then on."""
    gateway = Gateway(is_paired=True)
    answer_after_write(gateway, signer)
    await client(gateway).challenge(NONCE)
    assert gateway.writes[0][0] == profile.BONDED_CHALLENGE_UUID

    gateway = Gateway(is_paired=None)

    def needs_keys(uuid: str, data: bytes) -> None:
        if uuid == profile.BONDED_CHALLENGE_UUID:
            raise BleReadError(ReadFailure.PAIRING_NEEDED, "Not paired")
        answer_after_write(gateway, signer)
        gateway.on_write(uuid, data)

    gateway.on_write = needs_keys
    await client(gateway, pair=True).challenge(NONCE)
    assert [uuid for uuid, _ in gateway.writes] == [
        profile.BONDED_CHALLENGE_UUID,
        profile.CHALLENGE_UUID,
    ]


async def test_no_answer_times_out_polling_without_notifications() -> None:
    """A gateway that never answers: TIMEOUT at the challenge deadline, Info polled."""
    gateway = Gateway()
    gateway.on_write = lambda uuid, data: gateway.serve(
        profile.ServedToken(profile.empty_info(challenge_state=profile.ChallengeState.FETCHING), ())
    )
    with pytest.raises(BleReadError) as caught:
        await client(gateway, timeout=0.6, notify=False).challenge(NONCE)
    assert caught.value.reason is ReadFailure.TIMEOUT
    assert gateway.reads.count(profile.INFO_UUID) >= 3


async def test_a_torn_status_record_is_read_again() -> None:
    """Status changed between its Read Blobs: the spliced JSON is read again, bounded."""
    gateway = Gateway(status={"v": 1, "error": "x" * 100})
    link = ScriptedLink(gateway)
    real_read = link.read
    torn = [b'{"v":1,"error":"xxxx', b'{"v":1,"err']

    async def read(uuid: str) -> bytes:
        if uuid == profile.STATUS_UUID and torn:
            return torn.pop(0)
        return await real_read(uuid)

    link.read = read  # type: ignore[method-assign]
    client = ProfileClient(link, ReaderOptions())
    assert (await client.read_status())["error"] == "x" * 100
    torn[:] = [b"{"] * 4
    with pytest.raises(BleReadError) as caught:
        await client.read_status()
    assert caught.value.reason is ReadFailure.PROFILE
