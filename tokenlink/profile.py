"""The endorse-ble GATT profile, version 1: UUIDs, record layouts and the token codec.

Pure: both the gateway (bless) and the laptop (bleak) import this, and it is the executable
form of docs/protocol.md. All multi-byte integers are little-endian, as in the Bluetooth
Core spec (Vol 3, Part F, 3.2.8 "Attribute Value").

Why pages: a GATT attribute value is at most 512 bytes (Core spec Vol 3, Part F, 3.2.9)
and a token is up to 8 KiB, so the token is sliced into page characteristics of at most
512 bytes that any central reads with plain GATT reads (its stack does the Read Blob loop).
The pages are stateless slices of one immutable encoding, so several centrals can read at
once; a read that straddles a token rotation is detected by the length and hash prefix in
the info record.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import re
import struct
from dataclasses import dataclass
from typing import Any

from endorse_ble.tokenlink.errors import EndorseBleError
from endorse_ble.tokenlink.token import MAX_TOKEN_BYTES

PROFILE_VERSION = 1

_BASE = "-9a6c-4b8e-8f2a-1c3b5d7e9f01"
SERVICE_UUID = "5e1d0000" + _BASE
INFO_UUID = "5e1d0001" + _BASE
STATUS_UUID = "5e1d0002" + _BASE
CHALLENGE_UUID = "5e1d0003" + _BASE
#: Flagged encrypt-write: BlueZ delivers a write only over an encrypted (bonded) link, so
#: the gateway can give these writes the bonded laptops' own budget.
BONDED_CHALLENGE_UUID = "5e1d0004" + _BASE

# ATT errors a challenge write can meet (docs/protocol.md, "Challenge"). 0x80-0x9F are
# application errors (Core spec Vol 3, Part F, 3.4.1.1); BlueZ passes them on as
# "Operation failed with ATT error: 0x8N".
#: The nonce is not 8..64 bytes long.
ATT_INVALID_VALUE_LENGTH = 0x0D
#: The nonce has a character outside the base64url alphabet.
ATT_NONCE_MALFORMED = 0x80
#: Another central's challenge is being fetched: wait for Info to change, then write again.
ATT_CHALLENGE_BUSY = 0x81
#: This central's budget (or all centrals' hourly ceiling) is spent: Status ``refused``
#: says which and when the next is allowed.
ATT_CHALLENGE_REFUSED = 0x82

#: The largest value of one attribute (Core spec Vol 3, Part F, 3.2.9).
MAX_ATTRIBUTE_BYTES = 512
PAGE_SIZE = MAX_ATTRIBUTE_BYTES
#: The page count is one byte in the info record and two hex digits in the page UUID.
MAX_PAGES = 255
#: Largest encoded token the profile carries; the gateway registers enough pages for it.
MAX_ENCODED_BYTES = MAX_TOKEN_BYTES
#: Status is one attribute, read in one long read; never more than this.
MAX_STATUS_BYTES = MAX_ATTRIBUTE_BYTES


def page_uuid(index: int) -> str:
    """UUID of token page ``index`` (0-based): 5e1d01NN-..."""
    if not 0 <= index < MAX_PAGES:
        raise ValueError(f"page index {index} outside 0..{MAX_PAGES - 1}")
    return f"5e1d01{index:02x}" + _BASE


class ProfileError(EndorseBleError):
    """Bytes from the air do not follow the profile."""


class TornReadError(ProfileError):
    """Pages and info record disagree: the token rotated between reads; read again."""


class TokenState(enum.IntEnum):
    """State of the token being served (low nibble of the info record's state byte)."""

    EMPTY = 0
    FETCHING = 1
    READY = 2
    FAILED = 3


class ChallengeState(enum.IntEnum):
    """State of the most recent challenge (high nibble of the state byte)."""

    IDLE = 0
    FETCHING = 1
    READY = 2
    FAILED = 3


class Encoding(enum.IntEnum):
    """How the page bytes encode the token (info record byte 1)."""

    RAW = 0
    #: base64url segments decoded and length-prefixed, about a quarter smaller.
    COMPACT = 0x01


_INFO = struct.Struct("<BBBBHHHIIH")
# 20 bytes: one read (MTU-1 = 22) or one notification (MTU-3 = 20) at the default MTU 23.
INFO_SIZE = _INFO.size


@dataclass(frozen=True)
class InfoRecord:
    """The 20-byte record a central reads first. Layout in docs/protocol.md."""

    version: int
    encoding: Encoding
    token_state: TokenState
    challenge_state: ChallengeState
    page_count: int
    generation: int
    total_length: int
    page_size: int
    expires_at: int
    hash_prefix: int
    nonce_tag: int

    def encode(self) -> bytes:
        state = (self.challenge_state << 4) | self.token_state
        return _INFO.pack(
            self.version,
            self.encoding,
            state,
            self.page_count,
            self.generation & 0xFFFF,
            self.total_length,
            self.page_size,
            self.expires_at & 0xFFFFFFFF,
            self.hash_prefix,
            self.nonce_tag,
        )

    @classmethod
    def decode(cls, data: bytes) -> InfoRecord:
        """Read an info record; a newer profile may append fields, which are ignored."""
        if len(data) < 1:
            raise ProfileError("info record is empty")
        if data[0] > PROFILE_VERSION:
            raise ProfileError(
                f"gateway speaks profile v{data[0]}; this version understands up to "
                f"v{PROFILE_VERSION}: upgrade endorse-ble on the laptop"
            )
        if data[0] < 1:
            raise ProfileError(f"invalid profile version {data[0]}")
        if len(data) < INFO_SIZE:
            raise ProfileError(f"info record has {len(data)} bytes, expected {INFO_SIZE}")
        (version, enc, state, pages, gen, total, page_size, exp, digest, tag) = _INFO.unpack(
            data[:INFO_SIZE]
        )
        try:
            token_state = TokenState(state & 0x0F)
            challenge_state = ChallengeState(state >> 4)
            encoding = Encoding(enc)
        except ValueError as exc:
            raise ProfileError(f"info record has an unknown state or encoding: {exc}") from exc
        if not 0 < page_size <= MAX_ATTRIBUTE_BYTES:
            raise ProfileError(f"page size {page_size} outside 1..{MAX_ATTRIBUTE_BYTES}")
        if total > MAX_ENCODED_BYTES or pages != page_count_for(total, page_size):
            raise ProfileError(f"{total} bytes cannot be {pages} pages of {page_size}")
        return cls(
            version=version,
            encoding=encoding,
            token_state=token_state,
            challenge_state=challenge_state,
            page_count=pages,
            generation=gen,
            total_length=total,
            page_size=page_size,
            expires_at=exp,
            hash_prefix=digest,
            nonce_tag=tag,
        )


def empty_info(
    token_state: TokenState = TokenState.EMPTY,
    challenge_state: ChallengeState = ChallengeState.IDLE,
    generation: int = 0,
) -> InfoRecord:
    """An info record for when no token is served."""
    return InfoRecord(
        version=PROFILE_VERSION,
        encoding=Encoding.RAW,
        token_state=token_state,
        challenge_state=challenge_state,
        page_count=0,
        generation=generation,
        total_length=0,
        page_size=PAGE_SIZE,
        expires_at=0,
        hash_prefix=0,
        nonce_tag=0,
    )


def page_count_for(total_length: int, page_size: int = PAGE_SIZE) -> int:
    """How many pages carry ``total_length`` bytes."""
    return -(-total_length // page_size)


def hash_prefix(data: bytes) -> int:
    """First 32 bits of SHA-256(data): what the central checks its assembled bytes against."""
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "little")


def nonce_tag(nonce: str | None) -> int:
    """16-bit tag of a nonce, so a central sees whether the served token answers its challenge.

    0 means "no nonce"; a real nonce never maps to 0.
    """
    if not nonce:
        return 0
    return int.from_bytes(hashlib.sha256(nonce.encode()).digest()[:2], "little") or 1


# --- token encoding -----------------------------------------------------------------------

_LEN = struct.Struct("<H")


def _b64url_decode_canonical(segment: str) -> bytes | None:
    """Decode a base64url segment, or None when re-encoding would not give it back.

    Only canonical segments may be compacted: the signature covers the ASCII text, so the
    central must rebuild it byte for byte.
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]*", segment) or len(segment) % 4 == 1:
        return None
    data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode() != segment:
        return None
    return data


def encode_token(raw: str) -> tuple[Encoding, bytes]:
    """Encode a compact JWT for the pages: COMPACT when it round-trips, RAW otherwise."""
    ascii_bytes = raw.encode("ascii")
    if len(ascii_bytes) > MAX_TOKEN_BYTES:
        raise ProfileError(f"token of {len(ascii_bytes)} bytes exceeds {MAX_TOKEN_BYTES}")
    parts = raw.split(".")
    if len(parts) == 3:
        decoded = [_b64url_decode_canonical(p) for p in parts]
        header, payload, signature = decoded
        if header is not None and payload is not None and signature is not None:
            # MAX_TOKEN_BYTES keeps both segments far below the 16-bit length prefix.
            return Encoding.COMPACT, b"".join(
                [_LEN.pack(len(header)), header, _LEN.pack(len(payload)), payload, signature]
            )
    return Encoding.RAW, ascii_bytes


def decode_token(encoding: Encoding, data: bytes) -> str:
    """Rebuild the compact JWT text from page bytes (hostile input: lengths are checked)."""
    if len(data) > MAX_ENCODED_BYTES:
        raise ProfileError(f"encoded token of {len(data)} bytes exceeds {MAX_ENCODED_BYTES}")
    if encoding == Encoding.RAW:
        try:
            return data.decode("ascii")
        except UnicodeDecodeError as exc:
            raise ProfileError("raw token is not ASCII") from exc
    if encoding != Encoding.COMPACT:
        raise ProfileError(f"unknown token encoding {int(encoding)}")
    segments: list[bytes] = []
    at = 0
    for name in ("header", "payload"):
        if at + _LEN.size > len(data):
            raise ProfileError(f"compact token truncated before the {name} length")
        (length,) = _LEN.unpack_from(data, at)
        at += _LEN.size
        if at + length > len(data):
            raise ProfileError(f"compact token truncated inside the {name}")
        segments.append(data[at : at + length])
        at += length
    segments.append(data[at:])
    return ".".join(base64.urlsafe_b64encode(s).rstrip(b"=").decode() for s in segments)


def paginate(data: bytes, page_size: int = PAGE_SIZE) -> tuple[bytes, ...]:
    """Slice encoded token bytes into pages of ``page_size`` (the last may be shorter)."""
    if not 0 < page_size <= MAX_ATTRIBUTE_BYTES:
        raise ValueError(f"page size {page_size} outside 1..{MAX_ATTRIBUTE_BYTES}")
    if page_count_for(len(data), page_size) > MAX_PAGES:
        raise ProfileError(f"{len(data)} bytes need more than {MAX_PAGES} pages of {page_size}")
    return tuple(data[i : i + page_size] for i in range(0, len(data), page_size))


@dataclass(frozen=True)
class ServedToken:
    """One immutable snapshot of what the gateway serves: info record plus page values."""

    info: InfoRecord
    pages: tuple[bytes, ...]

    @property
    def info_bytes(self) -> bytes:
        return self.info.encode()


def serve_token(
    raw: str,
    *,
    expires_at: int,
    generation: int,
    nonce: str | None = None,
    token_state: TokenState = TokenState.READY,
    challenge_state: ChallengeState = ChallengeState.IDLE,
    page_size: int = PAGE_SIZE,
) -> ServedToken:
    """Build the snapshot the gateway serves for ``raw``."""
    encoding, data = encode_token(raw)
    pages = paginate(data, page_size)
    info = InfoRecord(
        version=PROFILE_VERSION,
        encoding=encoding,
        token_state=token_state,
        challenge_state=challenge_state,
        page_count=len(pages),
        generation=generation,
        total_length=len(data),
        page_size=page_size,
        expires_at=expires_at,
        hash_prefix=hash_prefix(data),
        nonce_tag=nonce_tag(nonce),
    )
    return ServedToken(info=info, pages=pages)


def assemble(info: InfoRecord, pages: list[bytes]) -> str:
    """Join pages read by a central and check them against ``info``.

    Raises :class:`TornReadError` when length or hash disagree: the token rotated between
    reads (or a read was cut short), so the central re-reads the info record and retries.
    """
    data = b"".join(pages)
    if len(pages) != info.page_count or len(data) != info.total_length:
        raise TornReadError(
            f"read {len(data)} bytes in {len(pages)} pages, info says "
            f"{info.total_length} in {info.page_count}"
        )
    if hash_prefix(data) != info.hash_prefix:
        raise TornReadError("token bytes do not match the info record's hash")
    return decode_token(info.encoding, data)


# --- status record ------------------------------------------------------------------------


def encode_status(status: dict[str, Any]) -> bytes:
    """Encode the status record: compact JSON, at most one attribute long."""
    data = json.dumps(status, separators=(",", ":"), sort_keys=True).encode()
    if len(data) > MAX_STATUS_BYTES:
        raise ProfileError(f"status record of {len(data)} bytes exceeds {MAX_STATUS_BYTES}")
    return data


def decode_status(data: bytes) -> dict[str, Any]:
    """Decode a status record read from the air."""
    if len(data) > MAX_STATUS_BYTES:
        raise ProfileError(f"status record of {len(data)} bytes exceeds {MAX_STATUS_BYTES}")
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProfileError(f"status record is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ProfileError("status record is not a JSON object")
    return value
