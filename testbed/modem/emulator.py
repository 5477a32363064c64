"""A 3G modem on a pseudo-terminal: answers AT commands like a Huawei/ZTE-style USB stick.

The emulator owns a pty pair; pyserial opens the slave through :attr:`device_path`, a
symlink in a private temporary directory that always names the current ``/dev/pts/N``.
Unplugging removes the symlink and closes the pty (the open slave sees a hang-up, as a
USB modem that resets does); replugging makes a new pty and points the same symlink at
it, so a client that reopens the same path finds the modem again.

One thread serves the master side with ``select`` (no busy loop). Fault modes are set
at runtime with :meth:`ModemEmulator.set_fault`.
"""

from __future__ import annotations

import contextlib
import enum
import os
import queue
import random
import select
import shutil
import tempfile
import threading
import time
import tty
from collections.abc import Callable, Collection
from pathlib import Path
from types import TracebackType


class ModemFault(enum.Enum):
    """Ways the emulated modem misbehaves."""

    NONE = "none"
    ERROR = "error"  # ERROR to every command
    SILENCE = "silence"  # reads commands, never answers
    GARBAGE = "garbage"  # random bytes instead of answers
    UNPLUG = "unplug"  # pty closed and symlink removed
    REPLUG = "replug"  # a new pty behind the same symlink; then back to NONE
    NO_REGISTRATION = "no-registration"  # stat 0 or 2
    WEAK_SIGNAL = "weak-signal"  # rssi 2 or 99
    PPP_BUSY = "ppp-busy"  # PPP frames instead of AT (pppd owns the port)
    STOP_READING = "stop-reading"  # a hung modem: never reads, so the port's buffer fills


# An LCP Configure-Request in HDLC-like framing (RFC 1662): flag, FF, escaped 03, C0 21...
PPP_FRAME = b'~\xff}#\xc0!}!}!} }4}"}&} } } } }%}&\x12\x9a\x4e\xd1}\'}"}(}"\x8f\x1c~'
_URCS = ("RING", "+CREG: 2", "^RSSI: 17", '+CMTI: "SM",3', "^BOOT:12345678,0,0,0,72")


class ModemEmulator:
    """An emulated 3G modem. ``start()`` it, give :attr:`device_path` to pyserial."""

    def __init__(
        self,
        *,
        imei: str = "356938035643809",
        imsi: str = "440103123456789",
        iccid: str = "8981100000123456789",
        operator: str = "SORACOM",
        signal_rssi: int = 20,
        registration: int = 1,
        echo: bool = True,
        urc_interval: float | None = None,
        seed: int | None = None,
        supports_cereg: bool = True,
        iccid_commands: Collection[str] = ("AT+CCID", "AT+ICCID", "AT^ICCID?"),
    ) -> None:
        self.imei, self.imsi, self.iccid, self.operator = imei, imsi, iccid, operator
        self.signal_rssi = signal_rssi
        self.registration = registration
        self.echo = echo
        self.urc_interval = urc_interval
        self.supports_cereg = supports_cereg
        self.iccid_commands = frozenset(c.upper() for c in iccid_commands)
        self._rng = random.Random(seed)
        self._fault = ModemFault.NONE
        self._fault_stat = 0
        self._fault_rssi = 2
        self._n = {"+CREG": 0, "+CGREG": 0, "+CEREG": 0}
        self._dir: Path | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._wake_r = self._wake_w = -1
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._calls: queue.Queue[tuple[Callable[[], None], threading.Event]] = queue.Queue()
        self._cond = threading.Condition()
        self._commands: list[str] = []
        self._urcs_sent = 0

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def device_path(self) -> str:
        """The stable path to open (a symlink to the current pty slave)."""
        if self._dir is None:
            raise RuntimeError("the emulator is not started")
        return str(self._dir / "ttyMODEM")

    def start(self) -> None:
        """Create the pty, the symlink and the serving thread."""
        self._dir = Path(tempfile.mkdtemp(prefix="modem-emu-"))
        self._wake_r, self._wake_w = os.pipe()
        self._plug()
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="modem-emulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close the pty and remove the temporary directory."""
        if self._thread is None:
            return
        self._stopping = True
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            # Its descriptors stay open: closed under it, the numbers would be reused by
            # other files that it then reads, writes or closes.
            raise RuntimeError("modem emulator thread did not stop within 5 s")
        self._thread = None
        self._unplug()
        os.close(self._wake_r)
        os.close(self._wake_w)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> ModemEmulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- control -------------------------------------------------------------------------

    @property
    def fault(self) -> ModemFault:
        return self._fault

    def set_fault(self, fault: ModemFault) -> None:
        """Switch fault mode; UNPLUG and REPLUG act at once (REPLUG then serves normally)."""
        if fault is ModemFault.STOP_READING:
            self._fault = fault  # first: the serving thread must not read the filler
            self._in_loop(self._fill_input)
        elif self._fault is ModemFault.STOP_READING:
            self._in_loop(self._drain_input)
        if fault is ModemFault.UNPLUG:
            self._in_loop(self._unplug)
        elif fault is ModemFault.REPLUG:
            self._in_loop(self._replug)
            fault = ModemFault.NONE
        self._fault_stat = self._rng.choice((0, 2))
        self._fault_rssi = self._rng.choice((2, 99))
        self._fault = fault
        if self._thread is not None:
            os.write(self._wake_w, b"x")  # the serving thread picks which fds to read again

    @property
    def commands(self) -> list[str]:
        """Every command line received so far, in order."""
        with self._cond:
            return list(self._commands)

    @property
    def commands_received(self) -> int:
        with self._cond:
            return len(self._commands)

    @property
    def urcs_sent(self) -> int:
        with self._cond:
            return self._urcs_sent

    def wait_for_commands(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until ``count`` command lines have arrived in total."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._commands) >= count, timeout)

    def wait_for_urcs(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until ``count`` URCs have been sent in total."""
        with self._cond:
            return self._cond.wait_for(lambda: self._urcs_sent >= count, timeout)

    # -- the pty -------------------------------------------------------------------------

    def _plug(self) -> None:
        master, slave = os.openpty()
        # Raw: no line discipline echo or CR/LF mapping between pyserial and us.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        assert self._dir is not None
        link, tmp = self._dir / "ttyMODEM", self._dir / "ttyMODEM.new"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(link)  # rename(2): the path never dangles while replugging

    def _unplug(self) -> None:
        if self._dir is not None:
            (self._dir / "ttyMODEM").unlink(missing_ok=True)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def _fill_input(self) -> None:
        """Fill the pty's buffer towards the modem, as a modem that stopped reading leaves
        it: the next write from the host blocks (or fails) instead of going through."""
        if self._slave is None:
            return
        os.set_blocking(self._slave, False)
        # The kernel moves data on from the pty's buffer a moment later, making room
        # again: fill until the port stays unwritable for a while.
        while select.select([], [self._slave], [], 0.1)[1]:
            for size in (4096, 256, 16, 1):  # big chunks first, then fill the last gap
                with contextlib.suppress(BlockingIOError):
                    while os.write(self._slave, b"\n" * size):
                        pass

    def _drain_input(self) -> None:
        """Throw away what piled up while not reading (the filler and stuck commands)."""
        if self._master is None:
            return
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._master, 65536):
                pass
        if self._slave is not None:
            os.set_blocking(self._slave, True)

    def _replug(self) -> None:
        self._unplug()
        self._plug()

    def _in_loop(self, action: Callable[[], None]) -> None:
        """Run ``action`` on the serving thread (it owns the fds it selects on)."""
        if self._thread is None:
            action()
            return
        done = threading.Event()
        self._calls.put((action, done))
        os.write(self._wake_w, b"x")
        if not done.wait(5):
            raise RuntimeError("modem emulator thread did not respond")

    # -- serving -------------------------------------------------------------------------

    def _next_urc_delay(self) -> float | None:
        if self.urc_interval is None:
            return None
        return self._rng.uniform(0.2, 1.8) * self.urc_interval

    def _serve(self) -> None:
        buffer = bytearray()
        delay = self._next_urc_delay()
        next_urc = None if delay is None else time.monotonic() + delay
        while not self._stopping:
            reading = self._master is not None and self._fault is not ModemFault.STOP_READING
            master = self._master
            fds = [self._wake_r] + ([master] if reading and master is not None else [])
            timeout = None if next_urc is None else max(0.0, next_urc - time.monotonic())
            readable, _, _ = select.select(fds, [], [], timeout)
            if self._wake_r in readable:
                os.read(self._wake_r, 64)
                while not self._calls.empty():
                    action, done = self._calls.get()
                    try:
                        action()
                    finally:
                        buffer.clear()
                        done.set()
                continue
            if next_urc is not None and time.monotonic() >= next_urc:
                self._send_urc()
                delay = self._next_urc_delay()
                next_urc = None if delay is None else time.monotonic() + delay
            if master is not None and master in fds and master in readable:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    data = b""
                if not data:
                    # EIO/EOF cannot happen while we hold the slave open; if the kernel says
                    # so anyway, the pty is unusable: behave as an unplugged modem.
                    self._unplug()
                    continue
                self._on_bytes(buffer, data)

    def _on_bytes(self, buffer: bytearray, data: bytes) -> None:
        if self.echo and self._fault is not ModemFault.SILENCE:
            self._write(data)  # V.250 6.2.4: characters are echoed as received
        buffer.extend(data)
        while b"\r" in buffer:
            line, _, rest = bytes(buffer).partition(b"\r")
            buffer[:] = rest
            text = line.decode("ascii", "replace").strip().lstrip("\n").strip()
            if not text:
                continue
            with self._cond:
                self._commands.append(text)
                self._cond.notify_all()
            self._answer(text)
        del buffer[:-1024]  # a line without CR never grows without bound

    def _write(self, data: bytes) -> None:
        if self._master is None:
            return
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._master, data)  # a full pty drops output, like a modem would

    def _send_urc(self) -> None:
        self._write(b"\r\n" + self._rng.choice(_URCS).encode() + b"\r\n")
        with self._cond:
            self._urcs_sent += 1
            self._cond.notify_all()

    def _answer(self, command: str) -> None:
        fault = self._fault
        if fault is ModemFault.SILENCE:
            return
        if fault is ModemFault.GARBAGE:
            noise = bytes(
                self._rng.randrange(0x80, 0x100) for _ in range(self._rng.randint(40, 200))
            )
            self._write(noise[:30] + b"\r\n" + noise[30:])
            return
        if fault is ModemFault.PPP_BUSY:
            self._write(PPP_FRAME * 3)
            return
        lines, final = (["ERROR"], None) if fault is ModemFault.ERROR else self._respond(command)
        out = [*lines, final] if final else lines
        if self.urc_interval is not None and self._rng.random() < 0.5:
            # A URC between the command and its final result code, as real modems do.
            out.insert(self._rng.randrange(len(out)), self._rng.choice(_URCS))
            with self._cond:
                self._urcs_sent += 1
                self._cond.notify_all()
        # V.250 5.7.1 verbose format: <CR><LF>text<CR><LF> for every line.
        self._write(b"".join(b"\r\n" + line.encode() + b"\r\n" for line in out))

    # -- the AT command set --------------------------------------------------------------

    def _stat(self) -> int:
        return self._fault_stat if self._fault is ModemFault.NO_REGISTRATION else self.registration

    def _rssi(self) -> int:
        return self._fault_rssi if self._fault is ModemFault.WEAK_SIGNAL else self.signal_rssi

    def _respond(self, command: str) -> tuple[list[str], str | None]:
        cmd = command.upper()
        ok: tuple[list[str], str | None] = ([], "OK")
        if cmd in ("AT", "ATZ", "ATV1", "AT&F"):
            return ok
        if cmd in ("ATE", "ATE0", "ATE1"):
            self.echo = cmd == "ATE1"
            return ok
        if cmd == "ATI":
            return (["Manufacturer: huawei", "Model: E173", "Revision: 11.126.85.00.209",
                     f"IMEI: {self.imei}", "+GCAP: +CGSM,+DS,+ES"], "OK")  # fmt: skip
        if cmd in ("AT+CGSN", "AT+GSN"):
            return [self.imei], "OK"
        if cmd == "AT+CIMI":
            return [self.imsi], "OK"
        if cmd in self.iccid_commands:
            prefix = cmd[2:].rstrip("?")
            return [f"{prefix}: {self.iccid}"], "OK"
        if cmd == "AT+CSQ":
            return [f"+CSQ: {self._rssi()},99"], "OK"
        for name in self._n:
            if name == "+CEREG" and not self.supports_cereg:
                continue
            if cmd == f"AT{name}?":
                return [self._registration_line(name)], "OK"
            if cmd == f"AT{name}=?":
                return [f"{name}: (0-2)"], "OK"
            if cmd.startswith(f"AT{name}=") and cmd[len(name) + 3 :] in ("0", "1", "2"):
                self._n[name] = int(cmd[len(name) + 3 :])
                return ok
        if cmd == "AT+COPS?":
            if self._stat() in (1, 5):
                return [f'+COPS: 0,0,"{self.operator}",2'], "OK"
            return ["+COPS: 0"], "OK"
        return [], "ERROR"

    def _registration_line(self, name: str) -> str:
        n, stat = self._n[name], self._stat()
        if n == 2 and stat in (1, 5):
            return f'{name}: 2,{stat},"1A2B","01C3D4E5",2'
        return f"{name}: {n},{stat}"
