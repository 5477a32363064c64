"""The GATT profile codec: info records, token pages and the compact encoding."""

from __future__ import annotations

import base64

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from endorse_ble.tokenlink import profile as p


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


jwt_like = st.tuples(
    st.binary(min_size=0, max_size=300), st.binary(max_size=1400), st.binary(max_size=600)
).map(lambda parts: ".".join(b64(x) for x in parts))
any_ascii = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=4096
)


@given(st.one_of(jwt_like, any_ascii), st.integers(1, 512))
def test_any_token_round_trips_through_pages(raw: str, page_size: int) -> None:
    """Every token up to 4 KiB, at every page size it fits in, comes back byte for byte."""
    encoded = p.encode_token(raw)[1]
    assume(p.page_count_for(len(encoded), page_size) <= p.MAX_PAGES)
    served = p.serve_token(raw, expires_at=123, generation=7, page_size=page_size)
    info = p.InfoRecord.decode(served.info_bytes)
    assert info == served.info
    assert all(len(page) <= page_size for page in served.pages)
    assert p.assemble(info, list(served.pages)) == raw


@given(jwt_like)
def test_canonical_jwts_use_the_compact_form(raw: str) -> None:
    """A canonical base64url JWT is carried compact: 3/4 of its size plus 4 length bytes."""
    encoding, data = p.encode_token(raw)
    assert encoding is p.Encoding.COMPACT
    header, payload, signature = raw.split(".")
    assert len(data) == 4 + sum(len(base64.urlsafe_b64decode(s + "==")) for s in raw.split("."))
    assert len(data) <= len(raw) * 3 // 4 + 4
    assert header or payload or signature or data == b"\x00\x00\x00\x00"


def test_non_canonical_base64_falls_back_to_raw() -> None:
    """A segment whose unused bits are set would not rebuild identically, so it goes raw."""
    raw = "eyJ.eyJ.AB"  # 'AB' decodes to one byte whose re-encoding is 'AA'
    encoding, data = p.encode_token(raw)
    assert encoding is p.Encoding.RAW
    assert data == raw.encode()


def test_info_record_is_twenty_bytes_little_endian() -> None:
    """The info layout of docs/protocol.md, byte by byte."""
    info = p.InfoRecord(
        version=1,
        encoding=p.Encoding.COMPACT,
        token_state=p.TokenState.READY,
        challenge_state=p.ChallengeState.FETCHING,
        page_count=2,
        generation=0x0102,
        total_length=600,
        page_size=512,
        expires_at=0x11223344,
        hash_prefix=0xAABBCCDD,
        nonce_tag=0x0506,
    )
    assert info.encode() == bytes.fromhex("0101120202015802000244332211ddccbbaa0605")


def test_newer_gateway_is_named_clearly() -> None:
    """A central meeting a newer profile says so instead of misreading it."""
    data = bytearray(p.empty_info().encode())
    data[0] = p.PROFILE_VERSION + 1
    with pytest.raises(p.ProfileError, match="upgrade"):
        p.InfoRecord.decode(bytes(data))


def test_longer_info_from_a_newer_minor_layout_is_accepted() -> None:
    """Bytes appended after the v1 fields are ignored (room to grow)."""
    info = p.empty_info(p.TokenState.FETCHING)
    assert p.InfoRecord.decode(info.encode() + b"\x00\x01") == info


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty"),
        (b"\x00" + bytes(19), "invalid profile version"),
        (b"\x01" + bytes(10), "expected 20"),
        (bytes.fromhex("01 00 05 00 0000 0000 0002 00000000 00000000 0000"), "unknown state"),
        (bytes.fromhex("01 04 02 00 0000 0000 0002 00000000 00000000 0000"), "unknown state"),
        (bytes.fromhex("01 00 02 00 0000 0000 0000 00000000 00000000 0000"), "page size"),
        (bytes.fromhex("01 00 02 03 0000 0a00 0002 00000000 00000000 0000"), "cannot be 3"),
        (bytes.fromhex("01 00 02 ff 0000 ffff 0002 00000000 00000000 0000"), "cannot be"),
    ],
)
def test_malformed_info_records_are_refused(data: bytes, match: str) -> None:
    """Info bytes from the air that break the layout raise ProfileError naming the fault."""
    with pytest.raises(p.ProfileError, match=match):
        p.InfoRecord.decode(data)


def test_torn_read_is_detected() -> None:
    """Pages of two different tokens never assemble into a token."""
    old = p.serve_token("a" * 700, expires_at=1, generation=1)
    new = p.serve_token("b" * 700, expires_at=2, generation=2)
    with pytest.raises(p.TornReadError):
        p.assemble(new.info, [old.pages[0], new.pages[1]])
    with pytest.raises(p.TornReadError):
        p.assemble(new.info, [new.pages[0]])


@given(st.binary(max_size=600))
def test_hostile_compact_bytes_raise_profile_error(data: bytes) -> None:
    """Garbage claimed to be a compact token decodes or raises ProfileError, nothing else."""
    try:
        text = p.decode_token(p.Encoding.COMPACT, data)
    except p.ProfileError:
        return
    assert text.count(".") == 2


def test_nonce_tag_is_never_zero_for_a_nonce() -> None:
    """Zero means 'no nonce', so every real nonce gets a non-zero tag."""
    assert p.nonce_tag(None) == 0
    assert all(p.nonce_tag(f"nonce-{i:04d}") != 0 for i in range(2000))


def test_oversized_tokens_are_refused() -> None:
    """Tokens beyond the largest encoding are refused when served and when read."""
    with pytest.raises(p.ProfileError):
        p.serve_token("x" * 8193, expires_at=0, generation=0)
    with pytest.raises(p.ProfileError):
        p.decode_token(p.Encoding.RAW, b"x" * (p.MAX_ENCODED_BYTES + 1))


def test_page_uuids_are_distinct_and_bounded() -> None:
    """Each page has its own UUID, distinct from the other characteristics."""
    uuids = {p.page_uuid(i) for i in range(p.MAX_PAGES)}
    assert p.page_count_for(p.MAX_ENCODED_BYTES) <= p.MAX_PAGES
    uuids |= {p.SERVICE_UUID, p.INFO_UUID, p.STATUS_UUID, p.CHALLENGE_UUID}
    assert len(uuids) == p.MAX_PAGES + 4
    with pytest.raises(ValueError):
        p.page_uuid(p.MAX_PAGES)


def test_status_record_is_bounded_json() -> None:
    """The status record round-trips and refuses what does not fit one attribute."""
    status = {"modem": {"signal_dbm": -71, "registration": "home"}, "token": {"state": "ready"}}
    assert p.decode_status(p.encode_status(status)) == status
    with pytest.raises(p.ProfileError):
        p.encode_status({"x": "y" * 600})
    with pytest.raises(p.ProfileError):
        p.decode_status(b"[1]")
    with pytest.raises(p.ProfileError):
        p.decode_status(b"\xff")
