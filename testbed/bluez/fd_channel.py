"""The socket behind AcquireWrite / AcquireNotify (doc/org.bluez.GattCharacteristic.rst).

BlueZ hands the client one end of a SOCK_SEQPACKET pair: each packet the client writes is
one Write Command; each notification is one packet the client reads. Closing the socket
releases the lock (the fake sees end-of-file).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

PacketHandler = Callable[[bytes], Awaitable[None]]


class FdChannel:
    """The fake's end of an acquired socket; :meth:`open` returns the client's fd."""

    def __init__(self, on_packet: PacketHandler | None, on_close: Callable[[], None]) -> None:
        self._on_packet = on_packet
        self._on_close = on_close
        self._ours: socket.socket | None = None
        self._pump: asyncio.Task[None] | None = None

    def open(self) -> int:
        """Create the pair and start reading; the returned fd belongs to the caller."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        self._ours = ours
        self._pump = asyncio.get_running_loop().create_task(self._run())
        return theirs.detach()

    async def _run(self) -> None:
        assert self._ours is not None
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await loop.sock_recv(self._ours, 4096)
                if not data:
                    break
                if self._on_packet is not None:
                    await self._on_packet(data)
        except OSError as err:
            logger.info("acquired socket closed: %r", err)
        finally:
            self._shutdown()
            self._on_close()

    def send(self, data: bytes) -> bool:
        """Send one packet to the client; False when the socket is gone or full."""
        if self._ours is None:
            return False
        try:
            self._ours.send(data)
        except (BlockingIOError, OSError) as err:
            logger.warning("notification dropped on acquired socket: %r", err)
            return False
        return True

    def close(self) -> None:
        """Close the fake's end (the client then sees a hang-up)."""
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None
        self._shutdown()

    def _shutdown(self) -> None:
        ours, self._ours = self._ours, None
        if ours is not None:
            ours.close()
