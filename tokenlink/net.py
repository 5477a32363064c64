"""Small, pure network predicates shared by the parts."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1).

    Plain http is allowed only towards such hosts (testers' simulators and local servers):
    a token is a bearer credential and must never cross a network in clear.
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
