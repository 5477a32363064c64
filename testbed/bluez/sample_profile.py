"""The sample GATT profile shared by the sample peripheral, the sample central and tests.

Kept free of bless and bleak so each side imports only its own BLE library.
"""

from __future__ import annotations

SERVICE_UUID = "6e9a0001-4b8c-4d1e-9a3f-2b7c5d8e0f11"
READ_UUID = "6e9a0002-4b8c-4d1e-9a3f-2b7c5d8e0f11"
WRITE_UUID = "6e9a0003-4b8c-4d1e-9a3f-2b7c5d8e0f11"
NOTIFY_UUID = "6e9a0004-4b8c-4d1e-9a3f-2b7c5d8e0f11"
ENCRYPTED_UUID = "6e9a0005-4b8c-4d1e-9a3f-2b7c5d8e0f11"
SHORT_UUID = "6e9a0006-4b8c-4d1e-9a3f-2b7c5d8e0f11"
NOTIFY_PREFIX = b"ack:"


def pattern(size: int) -> bytes:
    """``size`` bytes where every position differs from its neighbours mod 251.

    A prime period makes a repeated prefix easy to tell from the real value.
    """
    return bytes(i % 251 for i in range(size))
