"""The gateway's typed, frozen settings. Defaults here are the documented defaults.

``endorse_ble.peripheral.config`` loads and validates TOML into these; every other module receives
the one section it needs, never the raw TOML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from endorse_ble.tokenlink.endorse import ENDORSE_URL

RefreshMode = Literal["prefetch", "on-demand"]
ModemBackend = Literal["at", "modemmanager"]


@dataclass(frozen=True)
class EndorseSettings:
    """Where and how to ask SORACOM Endorse for a token."""

    url: str = ENDORSE_URL
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 20.0
    # A token is under 1 KiB (8 KiB at most); anything far larger is not Endorse talking.
    max_body_bytes: int = 65536


@dataclass(frozen=True)
class CellularSettings:
    """The link Endorse must be reached over: it answers only over the SIM's own link."""

    interface: str | None = "ppp0"
    source_address: str | None = None


@dataclass(frozen=True)
class ModemSettings:
    """How the modem is read: its AT command port, or through ModemManager over D-Bus."""

    # "at": AT commands on ``port``; "modemmanager": ModemManager's D-Bus API (no port).
    backend: ModemBackend = "at"
    # With several modems under ModemManager: the EquipmentIdentifier (IMEI) of the one.
    modem_id: str | None = None
    port: str = "/dev/ttyUSB2"
    baudrate: int = 115200
    command_timeout_seconds: float = 5.0
    poll_interval_seconds: float = 60.0


@dataclass(frozen=True)
class RefreshSettings:
    """When to fetch tokens, and how to back off when fetching fails."""

    mode: RefreshMode = "prefetch"
    # Renew once this fraction of a token's lifetime has passed (0.8 of 600 s: 7.5 fetches/h)
    renew_at_fraction: float = 0.8
    # ... and never later than this many seconds before exp.
    min_margin_seconds: float = 30.0
    backoff_initial_seconds: float = 2.0
    backoff_max_seconds: float = 300.0
    # A token this close to exp is never handed out.
    expiry_leeway_seconds: float = 5.0
    # Challenges from the air, each an Endorse request on a metered link. Each central
    # (named by BlueZ) may ask this many at once, then one more per challenge_refill_seconds.
    challenge_burst: int = 3
    challenge_refill_seconds: float = 60.0
    # All centrals' plain challenges together: at most this many per hour. A stranger can
    # change its address at will, so this is what bounds its cost on the metered link.
    challenge_ceiling_per_hour: int = 20
    # Challenges BlueZ delivered over an encrypted link (the Bonded Challenge
    # characteristic): each bonded laptop's own budget, which strangers cannot spend.
    bonded_challenge_burst: int = 10
    bonded_challenge_refill_seconds: float = 12.0


@dataclass(frozen=True)
class BleSettings:
    """How the gateway appears over Bluetooth Low Energy."""

    adapter: str = "hci0"
    name: str = "endorse-gw"
    require_encryption: bool = False
    # A static six-digit passkey for LE Secure Connections passkey entry (resists a man in
    # the middle); None: Just Works (NoInputNoOutput) inside a pairing window.
    pairing_passkey: int | None = None


@dataclass(frozen=True)
class GatewayConfig:
    """All of the gateway's settings."""

    endorse: EndorseSettings = field(default_factory=EndorseSettings)
    cellular: CellularSettings = field(default_factory=CellularSettings)
    modem: ModemSettings = field(default_factory=ModemSettings)
    refresh: RefreshSettings = field(default_factory=RefreshSettings)
    ble: BleSettings = field(default_factory=BleSettings)
    log_level: str = "INFO"
