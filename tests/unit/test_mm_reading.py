"""ModemManager's objects read into health and identity (pure, plain dicts)."""

from __future__ import annotations

from typing import Any

import pytest

from endorse_ble.peripheral.mm_reading import (
    MODEM,
    MODEM_3GPP,
    SIGNAL,
    SIM,
    reading_from_objects,
)
from endorse_ble.peripheral.modem_errors import ModemError, ModemErrorReason
from endorse_ble.peripheral.ports import Registration

BASE = "/org/freedesktop/ModemManager1"


def modem(index: int, imei: str, *, reg: int = 1, sim: bool = True, **extra: Any) -> dict[str, Any]:
    objects: dict[str, Any] = {
        f"{BASE}/Modem/{index}": {
            MODEM: {
                "EquipmentIdentifier": imei,
                "Sim": f"{BASE}/SIM/{index}" if sim else "/",
                "State": 8 if sim else -1,
                "StateFailedReason": 0 if sim else 2,
                "SignalQuality": [extra.get("percent", 0), True],
            },
            MODEM_3GPP: {"Imei": imei, "RegistrationState": reg, "OperatorName": "SORACOM"},
            SIGNAL: extra.get("signal", {}),
        }
    }
    if sim:
        objects[f"{BASE}/SIM/{index}"] = {
            SIM: {"Imsi": "440103123456789", "SimIdentifier": '"981801000021436587F9"'}
        }
    return objects


def test_one_modem_is_read() -> None:
    health, identity = reading_from_objects(
        modem(0, "356938035643809", signal={"Lte": {"rssi": -71.4}}), None
    )
    assert (health.registration, health.signal_dbm, health.operator) == (
        Registration.HOME,
        -71,
        "SORACOM",
    )
    # The ICCID goes through the same normalisation as an AT answer (BCD-swapped here).
    assert (identity.imei, identity.imsi, identity.iccid) == (
        "356938035643809",
        "440103123456789",
        "8981100000123456789",
    )


@pytest.mark.parametrize(("percent", "dbm"), [(0, None), (100, -51), (61, -75)])
def test_signal_quality_percent_is_the_fallback(percent: int, dbm: int | None) -> None:
    health, _ = reading_from_objects(modem(0, "356938035643809", percent=percent), None)
    assert health.signal_dbm == dbm


@pytest.mark.parametrize(
    ("objects", "modem_id", "reason"),
    [
        ({}, None, ModemErrorReason.NO_MODEM),
        (modem(0, "1") | modem(1, "2"), None, ModemErrorReason.NO_MODEM),
        (modem(0, "1"), "2", ModemErrorReason.NO_MODEM),
        (modem(0, "1", sim=False), None, ModemErrorReason.SIM_MISSING),
    ],
    ids=["none", "several", "wrong-id", "no-sim"],
)
def test_unusable(objects: dict[str, Any], modem_id: str | None, reason: ModemErrorReason) -> None:
    with pytest.raises(ModemError) as caught:
        reading_from_objects(objects, modem_id)
    assert caught.value.reason is reason


def test_modem_id_chooses_among_several() -> None:
    objects = modem(0, "111111111111111", reg=2) | modem(1, "222222222222222", reg=5)
    health, identity = reading_from_objects(objects, "222222222222222")
    assert (health.registration, identity.imei) == (Registration.ROAMING, "222222222222222")
