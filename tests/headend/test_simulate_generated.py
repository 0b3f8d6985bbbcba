"""`headend simulate --meters N` as a subprocess: a generated mixed fleet, read by the reading
path with every meter ok (ciphered ones included), stopped by SIGTERM with exit 0."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from headend.config import load_config
from headend.config.fleet import DlmsMeter, TcpChannel
from headend.reading import MeterStatus, ReadingService
from headend.store import SqliteStore
from tests.conftest import free_port
from tests.headend.subprocess_cli import ROOT

SHAPE = [
    "--meters", "30",
    "--concentrators", "1", "--meters-per-concentrator", "10",
    "--modbus-gateways", "1", "--units-per-gateway", "5",
    "--dlt645-lines", "1", "--meters-per-line", "5",
    "--cipher-share", "0.3",
    "--latency-ms", "2",
]  # fmt: skip


async def _start(config: Path, *extra: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADEND_")}
    env["COLUMNS"] = "200"
    args = ["simulate", *SHAPE, "--gprs-port", str(free_port()), "--write-config", str(config)]
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "headend.cli.main",
        *args,
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )


async def _wait_for(config: Path, proc: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(60):  # hang guard: the file appears once the fleet answers
        while not await asyncio.to_thread(config.exists):
            assert proc.returncode is None, await proc.communicate()
            await asyncio.sleep(0.05)


async def test_generated_fleet_is_read_whole_and_stops_on_sigterm(tmp_path):
    config_path = tmp_path / "generated.toml"
    proc = await _start(config_path)
    try:
        await _wait_for(config_path, proc)
        config = load_config(config_path)
        fleet = config.fleet
        ciphered = {m.id for m in fleet.meters if isinstance(m, DlmsMeter) and m.cipher}
        assert len(ciphered) == 6
        async with await SqliteStore.open(tmp_path / "r.sqlite3") as store:
            service = ReadingService(config, store, contacts=store, counters=store)
            report = await service.run(fleet.plan("daily"))
            by_meter = {m.meter_id: m for m in report.meters}
            assert len(by_meter) == 30
            failed = {m.meter_id: m.error for m in report.meters if m.status != MeterStatus.OK}
            assert not failed
            energy = await store.readings(obis="1.0.1.8.0.255")
            profile = await store.readings(meter_id="gprs-000001")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    text = out.decode()
    assert "generated fleet: 30 simulated meters" in text and str(config_path) in text
    assert "simulator stopped" in text
    # every meter gave its energy register; the GPRS meters sit at distinct addresses on one
    # port and are distinct meters (distinct readings, each under its own id)
    values = {r.meter_id: r.value for r in energy}
    assert len(values) == 30
    gprs = [c for c in fleet.channels if c.id.startswith("gprs-")]
    assert len(gprs) == 10
    assert len({c.host for c in gprs if isinstance(c, TcpChannel)}) == 10
    assert len({c.port for c in gprs if isinstance(c, TcpChannel)}) == 1
    assert len({values[c.id] for c in gprs}) == 10
    assert {ciphered_id for ciphered_id in ciphered if ciphered_id in values} == ciphered
    # a day of 15-minute load profile came with the registers (history P1D by default)
    assert sum(1 for r in profile if r.obis == "1.0.1.8.0.255") >= 90


async def test_sigterm_while_serving_exits_0_and_bad_shapes_are_usage_errors(tmp_path):
    config_path = tmp_path / "g.toml"
    proc = await _start(config_path, "--prebuild")
    await _wait_for(config_path, proc)
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        _out, err = await proc.communicate()
    assert proc.returncode == 0 and b"Traceback" not in err
    bad = await _start(tmp_path / "bad.toml", "--cipher-share", "2")
    async with asyncio.timeout(30):
        _out, err = await bad.communicate()
    assert bad.returncode == 2 and b"--cipher-share" in err and b"Traceback" not in err
    assert not await asyncio.to_thread((tmp_path / "bad.toml").exists)
