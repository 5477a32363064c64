"""check-config against a machine: the fake BlueZ on its bus, real ptys and devices."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from endorse_ble.testbed.bluez.harness import FakeBluezHandle

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, port: str, adapter: str, interface: str | None = None) -> Path:
    cellular = f'interface = "{interface}"' if interface else 'source_address = "127.0.0.1"'
    path = tmp_path / "config.toml"
    path.write_text(
        f'[endorse]\nurl = "http://127.0.0.1:9/"\n[cellular]\n{cellular}\n'
        f'[modem]\nport = "{port}"\n[ble]\nadapter = "{adapter}"\n',
        encoding="utf-8",
    )
    return path


async def _check_config(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "endorse_ble.peripheral",
        "check-config",
        *args,
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_a_machine_that_fits_passes(fake_bluez: FakeBluezHandle, tmp_path: Path) -> None:
    master, slave = os.openpty()
    try:
        config = _config(tmp_path, os.ttyname(slave), "hci0")
        code, out, err = await _check_config(fake_bluez.env("peripheral"), "--config", str(config))
    finally:
        os.close(slave)
        os.close(master)
    assert (code, err) == (0, "")
    assert "[modem]" in out


async def test_each_misfit_is_one_line(fake_bluez: FakeBluezHandle, tmp_path: Path) -> None:
    """A missing port, a missing interface and a missing adapter: one line each, exit 1."""
    config = _config(tmp_path, "/dev/ttyUSB9", "hci7", interface="ppp7")
    code, _, err = await _check_config(fake_bluez.env("peripheral"), "--config", str(config))
    assert code == 1
    prefix = "endorse-peripheral check-config: "
    lines = err.splitlines()
    assert [line.split(": ")[1] for line in lines] == [
        "cellular.interface",
        "modem.port",
        "ble.adapter",
    ]
    assert all(line.startswith(prefix) for line in lines)
    assert "ppp7 does not exist" in lines[0]
    assert "/dev/ttyUSB9 does not exist" in lines[1]
    assert "BlueZ has no adapter hci7" in lines[2]


async def test_offline_checks_the_file_only(fake_bluez: FakeBluezHandle, tmp_path: Path) -> None:
    config = _config(tmp_path, "/dev/ttyUSB9", "hci7", interface="ppp7")
    code, _, err = await _check_config(
        fake_bluez.env("peripheral"), "--offline", "--config", str(config)
    )
    assert (code, err) == (0, "")


async def test_bluez_not_running_is_named(tmp_path: Path) -> None:
    """No BlueZ on the bus (a private dbus-daemon without it): said so, not a traceback."""
    bus_dir = tmp_path / "bus"
    bus_dir.mkdir()
    proc = await asyncio.create_subprocess_exec(
        "dbus-daemon",
        "--session",
        "--nofork",
        "--print-address=1",
        f"--address=unix:dir={bus_dir}",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        address = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        config = _config(tmp_path, "/dev/null", "hci0")
        env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": address}
        code, _, err = await _check_config(env, "--config", str(config))
    finally:
        proc.terminate()
        await proc.wait()
    assert code == 1
    assert "ble.adapter: BlueZ (bluetoothd) is not running; systemctl status bluetooth" in err


async def test_no_port_is_checked_through_modemmanager(
    fake_bluez: FakeBluezHandle, tmp_path: Path
) -> None:
    """With backend = "modemmanager" the daemon opens no port: a missing one is no finding."""
    config = _config(tmp_path, "/dev/ttyUSB9", "hci0")
    config.write_text(
        config.read_text().replace("[modem]\n", '[modem]\nbackend = "modemmanager"\n')
    )
    code, _, err = await _check_config(fake_bluez.env("peripheral"), "--config", str(config))
    assert (code, err) == (0, "")
