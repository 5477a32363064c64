"""The GATT view: which token the pages serve and what Info and Status say about it."""

from __future__ import annotations

import json

import pytest

from endorse_ble.peripheral.gatt_view import RefusalNote, gatt_snapshot, next_expiry
from endorse_ble.peripheral.ports import ModemHealth, ModemIdentity, Registration
from endorse_ble.peripheral.store_state import (
    AnsweredChallenge,
    ChallengeSnapshot,
    ChallengeState,
    StoreSnapshot,
    StoreState,
)
from endorse_ble.testbed.endorse_keys import EndorseSigner, SimIdentity
from endorse_ble.tokenlink import profile
from endorse_ble.tokenlink.token import Token, parse_token

NOW = 1_800_000_000.0
LEEWAY = 5.0


@pytest.fixture(scope="module")
def signer() -> EndorseSigner:
    return EndorseSigner()


def mint(signer: EndorseSigner, iat: float, lifetime: int = 600, nonce: str | None = None) -> Token:
    params = {"nonce": nonce} if nonce else None
    return parse_token(
        signer.mint(SimIdentity(), lifetime=lifetime, now=iat, request_parameters=params)
    )


def served_token(store: StoreSnapshot, modem: ModemHealth | None = None) -> str | None:
    snap = gatt_snapshot("gw", store, modem, NOW, LEEWAY)
    info = profile.InfoRecord.decode(snap.served.info_bytes)
    if info.page_count == 0:
        return None
    return profile.assemble(info, list(snap.served.pages))


def test_ready_store_serves_its_token(signer: EndorseSigner) -> None:
    """A ready store's token is served in pages that reassemble to the JWT."""
    token = mint(signer, NOW - 10)
    store = StoreSnapshot(mode="prefetch", state=StoreState.READY, token=token, generation=3)
    snap = gatt_snapshot("gw", store, None, NOW, LEEWAY)
    info = profile.InfoRecord.decode(snap.served.info_bytes)
    assert info.token_state is profile.TokenState.READY
    assert info.generation == 3
    assert info.expires_at == token.expires_at
    assert info.nonce_tag == 0
    assert served_token(store) == token.raw


def test_newer_challenge_token_is_served_with_its_nonce_tag(signer: EndorseSigner) -> None:
    """The challenge token, being newer, is served and tagged with its nonce."""
    ordinary = mint(signer, NOW - 100)
    fresh = mint(signer, NOW - 1, nonce="nonce-0123456789")
    store = StoreSnapshot(
        mode="prefetch",
        state=StoreState.READY,
        token=ordinary,
        generation=4,
        challenge=ChallengeSnapshot(ChallengeState.READY, "nonce-0123456789", fresh, 5),
        answered=AnsweredChallenge("nonce-0123456789", fresh, 5),
    )
    info = profile.InfoRecord.decode(
        gatt_snapshot("gw", store, None, NOW, LEEWAY).served.info_bytes
    )
    assert info.challenge_state is profile.ChallengeState.READY
    assert info.nonce_tag == profile.nonce_tag("nonce-0123456789")
    assert served_token(store) == fresh.raw


def test_later_ordinary_renewal_replaces_an_older_challenge_token(signer: EndorseSigner) -> None:
    """The newest token wins: a renewal after the challenge is served untagged."""
    fresh = mint(signer, NOW - 300, nonce="nonce-0123456789")
    renewed = mint(signer, NOW - 1)
    store = StoreSnapshot(
        mode="prefetch",
        state=StoreState.READY,
        token=renewed,
        generation=9,
        challenge=ChallengeSnapshot(ChallengeState.READY, "nonce-0123456789", fresh, 8),
        answered=AnsweredChallenge("nonce-0123456789", fresh, 8),
    )
    assert served_token(store) == renewed.raw


def test_expired_tokens_are_never_served(signer: EndorseSigner) -> None:
    """A token within the leeway of exp is not served, and Info does not claim READY."""
    token = mint(signer, NOW - 600 + 3)  # 3 s left, leeway 5 s
    store = StoreSnapshot(mode="prefetch", state=StoreState.READY, token=token, generation=1)
    info = profile.InfoRecord.decode(
        gatt_snapshot("gw", store, None, NOW, LEEWAY).served.info_bytes
    )
    assert info.page_count == 0
    assert info.token_state is profile.TokenState.EMPTY
    assert next_expiry(store, NOW, LEEWAY) is None


def test_next_expiry_is_exp_minus_leeway(signer: EndorseSigner) -> None:
    """The daemon re-renders when the served token stops being servable."""
    token = mint(signer, NOW - 10)
    store = StoreSnapshot(mode="prefetch", state=StoreState.READY, token=token, generation=1)
    assert next_expiry(store, NOW, LEEWAY) == token.expires_at - LEEWAY


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (StoreState.EMPTY, profile.TokenState.EMPTY),
        (StoreState.FETCHING, profile.TokenState.FETCHING),
        (StoreState.FAILED, profile.TokenState.FAILED),
    ],
)
def test_store_states_map_to_info_states(state: StoreState, expected: profile.TokenState) -> None:
    """Without a token, Info carries the store's state one to one."""
    store = StoreSnapshot(mode="on-demand", state=state)
    info = profile.InfoRecord.decode(
        gatt_snapshot("gw", store, None, NOW, LEEWAY).served.info_bytes
    )
    assert info.token_state is expected


def test_status_reports_modem_and_error_but_never_the_token(signer: EndorseSigner) -> None:
    """Status is bounded JSON with modem health and the last error, never token material."""
    token = mint(signer, NOW - 10)
    store = StoreSnapshot(
        mode="prefetch",
        state=StoreState.READY,
        token=token,
        generation=2,
        last_error="x" * 1000,
        fetch_count=7,
    )
    modem = ModemHealth(Registration.ROAMING, -85, "SORACOM" * 20)
    raw = gatt_snapshot("gw", store, modem, NOW, LEEWAY).status
    assert len(raw) <= profile.MAX_STATUS_BYTES
    status = json.loads(raw)
    assert status["token"]["sha"] == token.fingerprint
    assert status["token"]["fetches"] == 7
    assert status["modem"] == {
        "reg": "roaming",
        "dbm": -85,
        "op": ("SORACOM" * 20)[:32],
        "match": None,
    }
    assert status["error"].startswith("xxx")
    for segment in token.raw.split("."):
        assert segment not in raw.decode()


def test_unregistered_modem_detail_becomes_the_error() -> None:
    """With no other error, why the modem is not registered is what Status says."""
    store = StoreSnapshot(mode="prefetch", state=StoreState.FAILED)
    modem = ModemHealth(Registration.UNKNOWN, None, None, "modem ppp_busy: PPP frames")
    status = json.loads(gatt_snapshot("gw", store, modem, NOW, LEEWAY).status)
    assert status["error"] == "modem ppp_busy: PPP frames"


@pytest.mark.parametrize(
    ("imsi", "imei", "match"),
    [
        ("440103123456789", "356938035643809", True),
        ("440103123456789", None, True),
        ("440109999999999", "356938035643809", False),
        ("440103123456789", "350000000000000", False),
        (None, None, None),
    ],
)
def test_status_says_only_whether_the_token_matches_the_modem(
    signer: EndorseSigner, imsi: str | None, imei: str | None, match: bool | None
) -> None:
    """Status carries the match verdict, never the IMSI, IMEI or ICCID themselves."""
    token = mint(signer, NOW - 10)
    store = StoreSnapshot(mode="prefetch", state=StoreState.READY, token=token, generation=1)
    modem = ModemHealth(Registration.HOME, -71, "SORACOM")
    identity = ModemIdentity(imei, imsi, "8981100000123456789")
    raw = gatt_snapshot("gw", store, modem, NOW, LEEWAY, identity).status.decode()
    assert json.loads(raw)["modem"]["match"] is match
    for secret in (imsi, imei, "8981100000123456789"):
        assert secret is None or secret not in raw


def test_answer_stays_served_while_another_challenge_is_fetched(signer: EndorseSigner) -> None:
    """Info shows the new challenge FETCHING while the pages still carry the previous
    answer with its nonce tag, so the central that asked for it can still read it."""
    fresh = mint(signer, NOW - 1, nonce="nonce-first-AAAA")
    store = StoreSnapshot(
        mode="prefetch",
        state=StoreState.READY,
        token=mint(signer, NOW - 100),
        generation=4,
        challenge=ChallengeSnapshot(ChallengeState.FETCHING, "nonce-second-BBB"),
        answered=AnsweredChallenge("nonce-first-AAAA", fresh, 5),
    )
    snap = gatt_snapshot("gw", store, None, NOW, LEEWAY)
    info = profile.InfoRecord.decode(snap.served.info_bytes)
    assert info.challenge_state is profile.ChallengeState.FETCHING
    assert info.nonce_tag == profile.nonce_tag("nonce-first-AAAA")
    assert served_token(store) == fresh.raw
    status = json.loads(snap.status)
    assert status["challenge"] == {
        "state": "fetching",
        "tag": profile.nonce_tag("nonce-second-BBB"),
    }


def test_status_lists_refusals_with_tag_reason_and_wait(signer: EndorseSigner) -> None:
    """Each refused nonce's tag, why and when the next is allowed; the record stays bounded
    even with the longest error and operator name."""
    store = StoreSnapshot(
        mode="prefetch",
        state=StoreState.READY,
        token=mint(signer, NOW - 10),
        generation=2,
        last_error="x" * 1000,
        challenge=ChallengeSnapshot(ChallengeState.FAILED, "nonce-failed-CCC", last_error="y"),
    )
    notes = [RefusalNote(0xFFFF, "ceiling", 100.0 + 3599.4), RefusalNote(1, "budget", 140.0)]
    notes += [RefusalNote(2, "busy", 100.0)] * 5
    modem = ModemHealth(Registration.ROAMING, -85, "SORACOM" * 20)
    raw = gatt_snapshot("g" * 40, store, modem, NOW, LEEWAY, None, notes, 100.0).status
    assert len(raw) <= profile.MAX_STATUS_BYTES
    status = json.loads(raw)
    assert status["challenge"]["tag"] == profile.nonce_tag("nonce-failed-CCC")
    assert status["refused"] == [
        {"tag": 0xFFFF, "why": "ceiling", "next_in": 3599},
        {"tag": 1, "why": "budget", "next_in": 40},
        {"tag": 2, "why": "busy", "next_in": 0},
    ]
