"""A simulated clock started at a chosen time (`headend simulate --start`): the fleet file names
the start beside the origin, the simulated meters and `headend run`'s clock both read it, and a
meter read over the wire answers with a clock near it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from headend.config import ReadingPlan, load_config
from headend.config.fleet import Fleet, Simulation
from headend.reading import MeterStatus, ReadingService
from headend.service.clock import ScaledClock, clock_for
from headend.simulation.generated import generated_fleet
from headend.simulation.generator import FleetShape, to_toml
from headend.store import SqliteStore
from tests.conftest import free_port
from tests.headend.subprocess_cli import ROOT

HANG_GUARD_S = 60
START = datetime(2024, 3, 1, 22, 0, tzinfo=UTC)
CLOCK = "0.0.1.0.0.255"


def test_clock_for_starts_the_simulated_time_where_the_file_says() -> None:
    origin = datetime.fromtimestamp(time.time() - 10, UTC)
    fleet = Fleet(simulation=Simulation(factor=60, clock_origin=origin, clock_start=START))
    clock = clock_for(fleet)
    assert isinstance(clock, ScaledClock)
    assert clock.origin == origin and clock.start == START
    # 10 real seconds since the origin, 60 times faster: 10 simulated minutes past the start
    assert START + timedelta(minutes=10) <= clock.now() < START + timedelta(hours=1)


def test_without_a_start_the_simulated_time_starts_at_the_origin() -> None:
    origin = datetime.now(UTC)
    clock = clock_for(Fleet(simulation=Simulation(factor=60, clock_origin=origin)))
    assert isinstance(clock, ScaledClock) and clock.start == origin


def test_the_start_round_trips_through_a_fleet_file() -> None:
    text = to_toml({"simulation": {"factor": 10.0, "clock_origin": START, "clock_start": START}})
    simulation = Fleet.model_validate(tomllib.loads(text)).simulation
    assert simulation is not None and simulation.clock_start == START


async def test_a_served_fleet_started_at_a_chosen_time(tmp_path: Path) -> None:
    path = tmp_path / "generated.toml"
    shape = FleetShape(meters=2, factor=600, gprs_port=0, history=timedelta(hours=1))
    async with generated_fleet(shape, path, start=START) as served:
        fleet = (await asyncio.to_thread(load_config, path)).fleet
        assert fleet.simulation is not None
        assert fleet.simulation.clock_start == START
        assert fleet.simulation.clock_origin == served.sim.clock.origin
        clock = clock_for(fleet)
        first, second, third = served.sim.clock.now(), clock.now(), served.sim.clock.now()
        # equal but for the microseconds between the reads, x600
        assert first - timedelta(seconds=5) <= second <= third + timedelta(seconds=5)
        assert START <= second < START + timedelta(hours=6)  # far from today: the start is used


async def test_simulate_start_puts_the_meters_clocks_there(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    proc = await _simulate(path, "--start", "2024-03-01T22:00")  # no zone: UTC
    try:
        async with asyncio.timeout(HANG_GUARD_S):  # the file appears once the fleet answers
            while not await asyncio.to_thread(path.exists):
                assert proc.returncode is None, await proc.communicate()
                await asyncio.sleep(0.05)
        config = await asyncio.to_thread(load_config, path)
        assert config.fleet.simulation is not None
        assert config.fleet.simulation.clock_start == START
        async with await SqliteStore.open(tmp_path / "r.sqlite3") as store:
            service = ReadingService(config, store, contacts=store, counters=store)
            plan = ReadingPlan(name="clock", points=[CLOCK])
            report = await service.run(plan, now=clock_for(config.fleet).now())
            assert [m.status for m in report.meters] == [MeterStatus.OK] * 2
            clocks = await store.readings(obis=CLOCK)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(HANG_GUARD_S):
            _out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert len(clocks) == 2
    for reading in clocks:
        assert isinstance(reading.value, datetime)
        # factor 60 and well under an hour of real time: within a few simulated days
        assert START <= reading.value.astimezone(UTC) < START + timedelta(days=3)


async def test_simulate_refuses_a_start_that_is_no_time(tmp_path: Path) -> None:
    proc = await _simulate(tmp_path / "fleet.toml", "--start", "tonight")
    async with asyncio.timeout(HANG_GUARD_S):
        _out, err = await proc.communicate()
    assert proc.returncode == 2
    assert "not an ISO 8601 time" in err.decode()
    assert not (tmp_path / "fleet.toml").exists()


async def _simulate(path: Path, *extra: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADEND_")}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "headend.cli.main",
        "simulate",
        "--meters", "2",
        "--factor", "60",
        "--gprs-port", str(free_port()),
        "--write-config", str(path),
        *extra,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )  # fmt: skip
