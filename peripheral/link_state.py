"""Is the cellular interface there and up? Read from sysfs, before each Endorse fetch.

The kernel exposes an interface's ``net_device.flags`` as hex in
``/sys/class/net/<name>/flags`` (Documentation/ABI/testing/sysfs-class-net). ``IFF_UP``
(0x1, ``include/uapi/linux/if.h``) is set while the interface is administratively up.
``operstate`` is not used: ppp reports ``unknown`` even while the link carries traffic.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path

from endorse_ble.peripheral.errors import EndorseFetchError, EndorseFetchReason

SYSFS_NET = Path("/sys/class/net")
IFF_UP = 0x1

_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")


class LinkState(enum.Enum):
    """What sysfs says about one interface."""

    MISSING = "missing"
    DOWN = "down"
    UP = "up"


def link_state(name: str, sysfs_net: Path = SYSFS_NET) -> LinkState:
    """The state of interface ``name``; a name that cannot be an interface is MISSING."""
    if not _IFNAME.fullmatch(name) or name in (".", ".."):
        return LinkState.MISSING  # never let a hostile name walk out of sysfs
    try:
        text = (sysfs_net / name / "flags").read_text(encoding="ascii")
    except FileNotFoundError:
        return LinkState.MISSING
    try:
        flags = int(text.strip(), 16)
    except ValueError:
        return LinkState.DOWN  # unreadable flags: do not send a credential request on it
    return LinkState.UP if flags & IFF_UP else LinkState.DOWN


def require_link_up(name: str, sysfs_net: Path = SYSFS_NET) -> None:
    """Raise :class:`EndorseFetchError` unless interface ``name`` exists and is up."""
    state = link_state(name, sysfs_net)
    if state is LinkState.MISSING:
        raise EndorseFetchError(
            EndorseFetchReason.INTERFACE_MISSING,
            f"cellular interface {name!r} does not exist (is the modem connected and "
            "the data link, e.g. pppd, started?)",
        )
    if state is LinkState.DOWN:
        raise EndorseFetchError(
            EndorseFetchReason.INTERFACE_DOWN, f"cellular interface {name!r} is down"
        )
