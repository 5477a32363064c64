"""The ATT rules BlueZ applies between a remote GATT client and a local application.

Pure functions only: no D-Bus, no I/O. The fake BlueZ drives its emulated link with
these, and the unit tests check them directly.

Sources (read for facts, BlueZ master 2026):
- src/shared/gatt-client.c ``read_long_cb``: the client's Read / Read Blob loop.
- src/shared/gatt-server.c ``read_complete_cb``/``check_length``: the server truncates each
  response to MTU-1 and refuses values over 512 bytes.
- src/gatt-database.c ``read_reply_cb`` (truncates an application's value to 512 bytes),
  ``dbus_error_to_att_ecode`` and ``append_options``.
- src/gatt-client.c ``create_gatt_dbus_error``: ATT error code -> D-Bus error for the client.
- Core spec v5.4 Vol 3 Part F 3.4 (ATT PDUs) and 3.2.9 (512-byte attribute values).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: Core spec Vol 3 Part F 3.2.9: an attribute value is at most 512 octets.
MAX_VALUE_LEN = 512
#: Core spec Vol 3 Part F 3.2.8: ATT_MTU is 23 on LE unless exchanged; BlueZ allows up to 517.
MIN_MTU = 23
MAX_MTU = 517

# ATT error codes (Core spec Vol 3 Part F 3.4.1.1).
ATT_READ_NOT_PERMITTED = 0x02
ATT_WRITE_NOT_PERMITTED = 0x03
ATT_INSUFFICIENT_AUTHENTICATION = 0x05
ATT_REQUEST_NOT_SUPPORTED = 0x06
ATT_INVALID_OFFSET = 0x07
ATT_INSUFFICIENT_AUTHORIZATION = 0x08
ATT_INVALID_ATTRIBUTE_VALUE_LEN = 0x0D
ATT_UNLIKELY = 0x0E
ATT_INSUFFICIENT_ENCRYPTION = 0x0F

# PDU header sizes in octets (opcode + handle [+ offset]).
READ_REQ_LEN = 3
READ_BLOB_REQ_LEN = 5
READ_RSP_HEADER = 1
WRITE_REQ_HEADER = 3
WRITE_RSP_LEN = 1
PREPARE_HEADER = 5
EXECUTE_REQ_LEN = 2
EXECUTE_RSP_LEN = 1
NOTIFICATION_HEADER = 3
#: Handle Value Confirmation: the opcode alone.
CONFIRMATION_LEN = 1
ERROR_RSP_LEN = 5

BLUEZ_ERROR = "org.bluez.Error"


class Security(enum.IntEnum):
    """Link security levels, as BlueZ's BT_ATT_SECURITY_* (src/shared/att-types.h)."""

    LOW = 1  # no encryption
    MEDIUM = 2  # encrypted, unauthenticated (Just Works)
    HIGH = 3  # encrypted, authenticated (MITM)
    FIPS = 4  # LE Secure Connections, authenticated


class OpKind(enum.Enum):
    """The ATT procedures the counters distinguish."""

    READ = "read"
    READ_BLOB = "read_blob"
    WRITE_REQ = "write_req"
    WRITE_CMD = "write_cmd"
    PREPARE_WRITE = "prepare_write"
    EXECUTE_WRITE = "execute_write"
    NOTIFICATION = "notification"
    #: A Handle Value Indication (p2c) and its Handle Value Confirmation (c2p).
    INDICATION = "indication"
    CCCD_WRITE = "cccd_write"


@dataclass(frozen=True)
class DBusErrorReply:
    """A D-Bus error as BlueZ sends it: error name and message."""

    name: str
    message: str


def check_mtu(mtu: int) -> int:
    """Return ``mtu`` if it is a valid LE ATT_MTU (23..517), else raise ValueError."""
    if not MIN_MTU <= mtu <= MAX_MTU:
        raise ValueError(f"ATT MTU must be in {MIN_MTU}..{MAX_MTU}, not {mtu}")
    return mtu


# --- reads -------------------------------------------------------------------------


def server_read_response(app_value: bytes, mtu: int) -> bytes:
    """The Read (Blob) Response payload BlueZ's server sends for an application's value.

    The application is expected to return the bytes starting at the requested offset;
    BlueZ truncates them to 512 (gatt-database.c) and then to MTU-1 (gatt-server.c).
    """
    return app_value[:MAX_VALUE_LEN][: mtu - 1]


def client_append(received: bytes, chunk: bytes, start: int = 0) -> bytes:
    """Append a response to what the client has read, never beyond offset 512."""
    room = MAX_VALUE_LEN - start - len(received)
    return received + chunk[: max(room, 0)]


def client_wants_more(chunk_len: int, offset_after: int, mtu: int) -> bool:
    """Whether BlueZ's client sends another Read Blob after a response of ``chunk_len``.

    ``read_long_cb``: stop at 512 bytes, or when a response is shorter than MTU-1.
    """
    if chunk_len == 0 or offset_after >= MAX_VALUE_LEN:
        return False
    return chunk_len >= mtu - 1


@dataclass(frozen=True)
class ReadTrace:
    """What one client ReadValue produced: the value and each request's offset."""

    value: bytes
    offsets: tuple[int, ...]

    @property
    def requests(self) -> int:
        """Number of ATT requests (one Read plus the Read Blobs)."""
        return len(self.offsets)


def simulate_read_long(app_read: Callable[[int], bytes], mtu: int, start: int = 0) -> ReadTrace:
    """Run the client's Read/Read Blob loop against ``app_read(offset) -> bytes``.

    The fake BlueZ runs the same steps asynchronously; this synchronous form documents
    the loop and lets tests check it over many sizes and MTUs.
    """
    check_mtu(mtu)
    received = b""
    offset = start
    offsets: list[int] = []
    while True:
        offsets.append(offset)
        chunk = server_read_response(app_read(offset), mtu)
        received = client_append(received, chunk, start)
        offset = start + len(received)
        if not client_wants_more(len(chunk), offset, mtu):
            return ReadTrace(received, tuple(offsets))


def read_request_count(value_len: int, mtu: int) -> int:
    """ATT requests an offset-honouring server needs to deliver ``value_len`` bytes."""
    length = min(value_len, MAX_VALUE_LEN)
    per = mtu - 1
    full, rest = divmod(length, per)
    if length >= MAX_VALUE_LEN:
        return full + (1 if rest else 0)
    return full + 1


# --- writes ------------------------------------------------------------------------


class WriteProcedure(enum.Enum):
    """Which ATT procedure BlueZ's client picks for a WriteValue (gatt-client.c)."""

    REQUEST = "request"
    LONG = "long"
    RELIABLE = "reliable"
    COMMAND = "command"


def choose_write(
    flags: Iterable[str], value_len: int, offset: int, write_type: str | None, mtu: int
) -> WriteProcedure | DBusErrorReply:
    """Pick the write procedure as ``characteristic_write_value`` does, or its error."""
    flag_set = set(flags)
    if (write_type is None and "reliable-write" in flag_set) or write_type == "reliable":
        return WriteProcedure.RELIABLE
    if (write_type is None and _has_write(flag_set)) or write_type == "request":
        if value_len <= mtu - 3 and offset == 0:
            return WriteProcedure.REQUEST
        return WriteProcedure.LONG
    if write_type not in (None, "command") or offset:
        return _not_supported_or_failed(write_type)
    if write_type is None and "write-without-response" not in flag_set:
        return DBusErrorReply(f"{BLUEZ_ERROR}.NotSupported", "Operation is not supported")
    if value_len > mtu - 3:
        # bt_att_send refuses a PDU longer than the MTU, so nothing is sent.
        return DBusErrorReply(f"{BLUEZ_ERROR}.Failed", "Failed to initiate write")
    return WriteProcedure.COMMAND


def _has_write(flags: set[str]) -> bool:
    return bool(flags & {"write", "encrypt-write", "encrypt-authenticated-write", "secure-write"})


def _not_supported_or_failed(write_type: str | None) -> DBusErrorReply:
    if write_type in ("request", "reliable", "command"):
        return DBusErrorReply(f"{BLUEZ_ERROR}.Failed", "Failed to initiate write")
    return DBusErrorReply(f"{BLUEZ_ERROR}.NotSupported", "Operation is not supported")


def check_length(length: int, offset: int) -> int:
    """gatt-server.c ``check_length``: 0, or the ATT error for a too-long write."""
    if length > MAX_VALUE_LEN:
        return ATT_INVALID_ATTRIBUTE_VALUE_LEN
    if offset > MAX_VALUE_LEN:
        return ATT_INVALID_OFFSET
    if length + offset > MAX_VALUE_LEN:
        return ATT_INVALID_ATTRIBUTE_VALUE_LEN
    return 0


def prepare_chunks(value: bytes, offset: int, mtu: int) -> list[tuple[int, bytes]]:
    """Split a long write into Prepare Write payloads of MTU-5 bytes each."""
    per = mtu - PREPARE_HEADER
    return [(offset + i, value[i : i + per]) for i in range(0, len(value), per)] or [(offset, b"")]


def notification_payload(value: bytes, mtu: int) -> bytes:
    """A Handle Value Notification carries at most MTU-3 bytes (Core Vol 3 Part F 3.4.7.1)."""
    return value[: mtu - NOTIFICATION_HEADER]


# --- permissions -------------------------------------------------------------------

_READ_FLAGS = {
    "read": Security.LOW,
    "encrypt-read": Security.MEDIUM,
    "encrypt-authenticated-read": Security.HIGH,
    "secure-read": Security.FIPS,
}
_WRITE_FLAGS = {
    "write": Security.LOW,
    "write-without-response": Security.LOW,
    "reliable-write": Security.LOW,
    "authenticated-signed-writes": Security.LOW,
    "encrypt-write": Security.MEDIUM,
    "encrypt-authenticated-write": Security.HIGH,
    "secure-write": Security.FIPS,
}


_NOTIFY_FLAGS = {
    "notify": Security.LOW,
    "indicate": Security.LOW,
    "encrypt-notify": Security.MEDIUM,
    "encrypt-indicate": Security.MEDIUM,
    "encrypt-authenticated-notify": Security.HIGH,
    "encrypt-authenticated-indicate": Security.HIGH,
    "secure-notify": Security.FIPS,
    "secure-indicate": Security.FIPS,
}


def subscribe_error(flags: Iterable[str], security: Security) -> int:
    """The ATT error for writing the CCCD (subscribing), or 0 when allowed.

    gatt-database.c gives the CCCD the write permission of the ``*-notify`` /
    ``*-indicate`` flag: ``encrypt-notify`` needs an encrypted link, and so on.
    """
    levels = [_NOTIFY_FLAGS[f] for f in flags if f in _NOTIFY_FLAGS]
    if not levels:
        return ATT_WRITE_NOT_PERMITTED
    needed = max(levels)
    if security >= needed:
        return 0
    return (
        ATT_INSUFFICIENT_ENCRYPTION
        if needed == Security.MEDIUM
        else ATT_INSUFFICIENT_AUTHENTICATION
    )


def uses_indications(flags: Iterable[str]) -> bool:
    """Whether Value changes go out as indications (confirmed) rather than notifications;
    BlueZ notifies when both are allowed."""
    names = set(flags)
    return bool(names & {f for f in _NOTIFY_FLAGS if f.endswith("indicate")}) and not bool(
        names & {f for f in _NOTIFY_FLAGS if f.endswith("notify")}
    )


def access_error(flags: Iterable[str], write: bool, security: Security) -> int:
    """The ATT error the server answers for an access, or 0 when allowed.

    gatt-database.c turns flags into permissions; gatt-server.c ``check_permissions``
    then refuses a missing permission, or a link below the required security.
    """
    table = _WRITE_FLAGS if write else _READ_FLAGS
    levels = [table[f] for f in flags if f in table]
    if not levels:
        return ATT_WRITE_NOT_PERMITTED if write else ATT_READ_NOT_PERMITTED
    needed = max(levels)
    if security >= needed:
        return 0
    if needed == Security.MEDIUM:
        return ATT_INSUFFICIENT_ENCRYPTION
    return ATT_INSUFFICIENT_AUTHENTICATION


def app_error_to_att(name: str, message: str, permission_error: int) -> int:
    """gatt-database.c ``dbus_error_to_att_ecode``: an application's D-Bus error -> ATT."""
    if name == f"{BLUEZ_ERROR}.Failed":
        try:
            code = int(message, 0)
        except ValueError:
            return 0x80
        return code if 0x80 <= code <= 0x9F else ATT_UNLIKELY
    table = {
        f"{BLUEZ_ERROR}.NotSupported": ATT_REQUEST_NOT_SUPPORTED,
        f"{BLUEZ_ERROR}.NotAuthorized": ATT_INSUFFICIENT_AUTHORIZATION,
        f"{BLUEZ_ERROR}.InvalidValueLength": ATT_INVALID_ATTRIBUTE_VALUE_LEN,
        f"{BLUEZ_ERROR}.InvalidOffset": ATT_INVALID_OFFSET,
        f"{BLUEZ_ERROR}.NotPermitted": permission_error,
    }
    return table.get(name, ATT_UNLIKELY)


def att_to_client_error(ecode: int) -> DBusErrorReply:
    """gatt-client.c ``create_gatt_dbus_error``: what the central's D-Bus caller sees."""
    if ecode == ATT_READ_NOT_PERMITTED:
        return DBusErrorReply(f"{BLUEZ_ERROR}.NotPermitted", "Read not permitted")
    if ecode == ATT_WRITE_NOT_PERMITTED:
        return DBusErrorReply(f"{BLUEZ_ERROR}.NotPermitted", "Write not permitted")
    if ecode in (ATT_INSUFFICIENT_AUTHENTICATION, ATT_INSUFFICIENT_ENCRYPTION, 0x0C):
        return DBusErrorReply(f"{BLUEZ_ERROR}.NotPermitted", "Not paired")
    if ecode == ATT_INVALID_OFFSET:
        return DBusErrorReply(f"{BLUEZ_ERROR}.InvalidArguments", "Invalid offset")
    if ecode == ATT_INVALID_ATTRIBUTE_VALUE_LEN:
        return DBusErrorReply(f"{BLUEZ_ERROR}.InvalidArguments", "Invalid Length")
    if ecode == ATT_INSUFFICIENT_AUTHORIZATION:
        return DBusErrorReply(f"{BLUEZ_ERROR}.NotAuthorized", "Not Authorized")
    if ecode == ATT_REQUEST_NOT_SUPPORTED:
        return DBusErrorReply(f"{BLUEZ_ERROR}.NotSupported", "Operation is not supported")
    if ecode == 0:
        return DBusErrorReply(f"{BLUEZ_ERROR}.Failed", "Operation failed")
    return DBusErrorReply(
        f"{BLUEZ_ERROR}.Failed", f"Operation failed with ATT error: 0x{ecode:02x}"
    )
