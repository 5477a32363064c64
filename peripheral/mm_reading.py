"""ModemManager's objects -> the modem's health and identity (pure, no D-Bus here).

Input is ``GetManagedObjects`` of ``org.freedesktop.ModemManager1`` with the variants
unpacked: ``{path: {interface: {property: value}}}``. Interfaces and properties are those of
ModemManager's D-Bus API (ModemManager 1.x, "org.freedesktop.ModemManager1.Modem",
".Modem.Modem3gpp", ".Modem.Signal", "org.freedesktop.ModemManager1.Sim"). The
MMModem3gppRegistrationState values are those of 3GPP TS 27.007 <stat>, so they map the
same way as an AT answer. The D-Bus adapter is :mod:`endorse_ble.peripheral.mm_modem`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from endorse_ble.peripheral.at_parser import RegistrationStatus, normalise_iccid, rssi_to_dbm
from endorse_ble.peripheral.modem_errors import AtParseError, ModemError, ModemErrorReason
from endorse_ble.peripheral.ports import ModemHealth, ModemIdentity, Registration

MM_NAME = "org.freedesktop.ModemManager1"
MM_PATH = "/org/freedesktop/ModemManager1"
MODEM = f"{MM_NAME}.Modem"
MODEM_3GPP = f"{MM_NAME}.Modem.Modem3gpp"
SIGNAL = f"{MM_NAME}.Modem.Signal"
SIM = f"{MM_NAME}.Sim"

#: MMModemState / MMModemStateFailedReason values that matter here.
STATE_FAILED = -1
STATE_LOCKED = 2
FAILED_SIM_MISSING = 2
_SIGNAL_TECHNOLOGIES = ("Nr5g", "Lte", "Umts", "Gsm", "Cdma", "Evdo")

Objects = Mapping[str, Mapping[str, Mapping[str, Any]]]


def reading_from_objects(
    objects: Objects, modem_id: str | None
) -> tuple[ModemHealth, ModemIdentity]:
    """The chosen modem's health and identity; :class:`ModemError` if there is none."""
    path, modem = _choose_modem(objects, modem_id)
    props = modem[MODEM]
    gpp = modem.get(MODEM_3GPP, {})
    sim_path = props.get("Sim")
    sim = objects.get(sim_path, {}).get(SIM, {}) if isinstance(sim_path, str) else {}
    state = _int(props.get("State"))
    if not sim or (
        state == STATE_FAILED and _int(props.get("StateFailedReason")) == FAILED_SIM_MISSING
    ):
        raise ModemError(ModemErrorReason.SIM_MISSING, f"modem {path} reports no SIM card")
    identity = ModemIdentity(
        imei=_text(gpp.get("Imei")) or _text(props.get("EquipmentIdentifier")),
        imsi=_text(sim.get("Imsi")),
        iccid=_iccid(sim.get("SimIdentifier")),
    )
    registration = Registration.UNKNOWN
    stat = _int(gpp.get("RegistrationState"))
    if stat is not None and 0 <= stat <= 11:
        registration = RegistrationStatus(0, stat).registration
    detail = "the SIM is locked (PIN)" if state == STATE_LOCKED else ""
    health = ModemHealth(
        registration,
        _signal_dbm(modem),
        _text(gpp.get("OperatorName")) or _text(gpp.get("OperatorCode")),
        detail,
    )
    return health, identity


def _choose_modem(
    objects: Objects, modem_id: str | None
) -> tuple[str, Mapping[str, Mapping[str, Any]]]:
    modems = {p: ifaces for p, ifaces in objects.items() if MODEM in ifaces}
    if modem_id is not None:
        for path, ifaces in modems.items():
            if _text(ifaces[MODEM].get("EquipmentIdentifier")) == modem_id:
                return path, ifaces
        raise ModemError(
            ModemErrorReason.NO_MODEM,
            f"ModemManager has no modem with EquipmentIdentifier {modem_id}",
        )
    if len(modems) == 1:
        return next(iter(modems.items()))
    if not modems:
        raise ModemError(ModemErrorReason.NO_MODEM, "ModemManager knows no modem")
    ids = ", ".join(
        sorted(_text(i[MODEM].get("EquipmentIdentifier")) or "?" for i in modems.values())
    )
    raise ModemError(
        ModemErrorReason.NO_MODEM,
        f"ModemManager has {len(modems)} modems ({ids}); set [modem] modem_id to one of them",
    )


def _signal_dbm(modem: Mapping[str, Mapping[str, Any]]) -> int | None:
    """RSSI from the Signal interface when it reports one, else from SignalQuality.

    SignalQuality is a percentage that ModemManager derives from +CSQ's rssi (0-31);
    turned back into that scale it gives 27.007 8.5's dBm, to within 2 dB.
    """
    signal = modem.get(SIGNAL, {})
    for technology in _SIGNAL_TECHNOLOGIES:
        values = signal.get(technology)
        rssi = values.get("rssi") if isinstance(values, Mapping) else None
        if isinstance(rssi, int | float) and math.isfinite(rssi) and -150 < rssi < 0:
            return round(rssi)
    quality = modem[MODEM].get("SignalQuality")
    if isinstance(quality, list | tuple) and quality and isinstance(quality[0], int):
        percent = quality[0]
        if 0 < percent <= 100:
            return rssi_to_dbm(round(percent * 31 / 100))
    return None


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip() and value.isprintable():
        return value.strip()[:64]
    return None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _iccid(value: object) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return normalise_iccid(text)
    except AtParseError:
        return None
