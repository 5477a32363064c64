"""A fake ModemManager: ``org.freedesktop.ModemManager1`` on a private bus, with faults.

Written like the fake BlueZ (dbus-fast, the :class:`~endorse_ble.testbed.bluez.objects.
ObjectServer`): one modem at ``/org/freedesktop/ModemManager1/Modem/<n>`` with the Modem,
Modem3gpp and Signal interfaces, its SIM at ``/org/freedesktop/ModemManager1/SIM/<n>``,
and the ObjectManager at ``/org/freedesktop/ModemManager1`` as ModemManager 1.x has them.
Faults change what it reports at runtime: the modem removed and re-added (a new object
path, as after a USB reset), the SIM missing, searching for a network.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbus_fast import Variant
from dbus_fast.aio import MessageBus
from dbus_fast.constants import RequestNameReply

from endorse_ble.peripheral.mm_reading import MM_NAME, MM_PATH, MODEM, MODEM_3GPP, SIGNAL, SIM
from endorse_ble.testbed.bluez.objects import Interface, ObjectServer

# MMModemState, MMModem3gppRegistrationState, MMModemStateFailedReason (ModemManager-enums.h)
STATE_FAILED, STATE_SEARCHING, STATE_REGISTERED = -1, 7, 8
REG_HOME, REG_SEARCHING = 1, 2
FAILED_SIM_MISSING = 2


@dataclass
class FakeModem:
    """What the fake reports for its one modem."""

    imei: str = "356938035643809"
    imsi: str = "440103123456789"
    iccid: str = "8981100000123456789"
    operator: str = "SORACOM"
    registration: int = REG_HOME
    rssi_dbm: float = -71.0
    sim_present: bool = True


class FakeModemManager:
    """``async with FakeModemManager(address) as mm:``; faults through its methods."""

    def __init__(self, bus_address: str, modem: FakeModem | None = None) -> None:
        self.bus_address = bus_address
        self.modem = modem or FakeModem()
        self._bus: MessageBus | None = None
        self._server: ObjectServer | None = None
        self._index = 0
        self._present = False

    async def start(self) -> None:
        bus = MessageBus(bus_address=self.bus_address)
        await bus.connect()
        reply = await bus.request_name(MM_NAME)
        if reply is not RequestNameReply.PRIMARY_OWNER:
            raise RuntimeError(f"could not own {MM_NAME}: {reply}")
        self._bus = bus
        self._server = ObjectServer(bus, manager_path=MM_PATH)
        self._server.add(MM_PATH, {})
        self._server.attach()
        self.add_modem()

    async def stop(self) -> None:
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.disconnect()
            await bus.wait_for_disconnect()

    async def __aenter__(self) -> FakeModemManager:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- faults ---------------------------------------------------------------------------

    def remove_modem(self) -> None:
        """The modem disappears (unplugged, or resetting)."""
        server = self._require()
        server.remove(self.modem_path)
        server.remove(self.sim_path)
        self._present = False

    def add_modem(self) -> None:
        """The modem (re)appears under a new index, as ModemManager numbers them."""
        server = self._require()
        if self._present:
            self.remove_modem()
        self._index += 1
        self._present = True
        if self.modem.sim_present:
            server.add(self.sim_path, {SIM: Interface(self._sim_props())})
        server.add(
            self.modem_path,
            {
                MODEM: Interface(self._modem_props()),
                MODEM_3GPP: Interface(self._3gpp_props()),
                SIGNAL: Interface(self._signal_props()),
            },
        )

    def set_sim_present(self, present: bool) -> None:
        """Take the SIM out (the modem fails with sim-missing) or put it back."""
        self.modem.sim_present = present
        self.add_modem()

    def set_registration(self, state: int) -> None:
        """Report another MMModem3gppRegistrationState (1 home, 2 searching, ...)."""
        self.modem.registration = state
        server = self._require()
        server.update(self.modem_path, MODEM_3GPP, {"RegistrationState": Variant("u", state)})
        server.update(self.modem_path, MODEM, {"State": Variant("i", self._state())})

    # -- the objects ----------------------------------------------------------------------

    @property
    def modem_path(self) -> str:
        return f"{MM_PATH}/Modem/{self._index}"

    @property
    def sim_path(self) -> str:
        return f"{MM_PATH}/SIM/{self._index}"

    def _require(self) -> ObjectServer:
        if self._server is None:
            raise RuntimeError("the fake ModemManager is not started")
        return self._server

    def _state(self) -> int:
        if not self.modem.sim_present:
            return STATE_FAILED
        return STATE_REGISTERED if self.modem.registration in (1, 5) else STATE_SEARCHING

    def _modem_props(self) -> dict[str, Variant]:
        m = self.modem
        return {
            "EquipmentIdentifier": Variant("s", m.imei),
            "Manufacturer": Variant("s", "Quectel"),
            "Model": Variant("s", "EC25"),
            "Sim": Variant("o", self.sim_path if m.sim_present else "/"),
            "State": Variant("i", self._state()),
            "StateFailedReason": Variant("u", 0 if m.sim_present else FAILED_SIM_MISSING),
            "SignalQuality": Variant("(ub)", [60, True]),
            "AccessTechnologies": Variant("u", 1 << 14),  # MM_MODEM_ACCESS_TECHNOLOGY_LTE
        }

    def _3gpp_props(self) -> dict[str, Variant]:
        m = self.modem
        return {
            "Imei": Variant("s", m.imei),
            "RegistrationState": Variant("u", m.registration),
            "OperatorCode": Variant("s", "44010"),
            "OperatorName": Variant("s", m.operator),
        }

    def _signal_props(self) -> dict[str, Variant]:
        return {
            "Rate": Variant("u", 10),
            "Lte": Variant("a{sv}", {"rssi": Variant("d", self.modem.rssi_dbm)}),
        }

    def _sim_props(self) -> dict[str, Variant]:
        m = self.modem
        return {
            "SimIdentifier": Variant("s", m.iccid),
            "Imsi": Variant("s", m.imsi),
            "OperatorName": Variant("s", m.operator),
        }
