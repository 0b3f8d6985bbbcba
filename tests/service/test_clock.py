"""The service clock: wall, scaled (simulated time another process can compute), the simulator's
SimClock as a service clock, and the clock a fleet file asks for."""

from __future__ import annotations

import asyncio
import time
import tomllib
from datetime import UTC, datetime, timedelta

import pytest

from drivers.sim.clock import SimClock
from headend.config.fleet import Fleet, Simulation
from headend.service.clock import ScaledClock, ServiceClock, WallClock, clock_for, sleep_until
from headend.simulation.generator import to_toml

HANG_GUARD_S = 30


def test_scaled_clock_runs_factor_times_faster_from_its_origin() -> None:
    origin = datetime.fromtimestamp(time.time() - 10, UTC)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    clock = ScaledClock(origin, 60, start=start)
    before = time.time()
    now = clock.now()
    after = time.time()
    assert now.tzinfo is not None
    low = start + timedelta(seconds=(before - origin.timestamp()) * 60)
    high = start + timedelta(seconds=(after - origin.timestamp()) * 60)
    assert low <= now <= high
    assert now - start >= timedelta(minutes=10)  # 10 real seconds, 60 times faster


def test_scaled_clock_agrees_with_the_simulators_clock() -> None:
    sim = SimClock(factor=3600)
    head_end = ScaledClock(sim.origin, sim.factor)  # what `headend run` builds from the file
    # a SimClock counts monotonic time, a ScaledClock wall time: equal but for the instants the
    # two reads are apart (here at most a few hundred microseconds of real time, x3600)
    first, second, third = sim.now(), head_end.now(), sim.now()
    assert first - timedelta(seconds=5) <= second <= third + timedelta(seconds=5)


def test_clocks_are_service_clocks() -> None:
    for clock in (WallClock(), ScaledClock(datetime.now(UTC), 2), SimClock(factor=0)):
        assert isinstance(clock, ServiceClock)
    assert WallClock().factor == 1.0
    assert abs(WallClock().now() - datetime.now(UTC)) < timedelta(minutes=1)


def test_a_scaled_clock_refuses_a_naive_origin_or_a_negative_factor() -> None:
    with pytest.raises(ValueError, match="time zone"):
        ScaledClock(datetime(2024, 1, 1), 1)
    with pytest.raises(ValueError, match=">= 0"):
        ScaledClock(datetime.now(UTC), -1)


async def test_sleep_waits_simulated_seconds() -> None:
    clock = ScaledClock(datetime.now(UTC), 3600)
    before = clock.now()
    async with asyncio.timeout(HANG_GUARD_S):
        await clock.sleep(1800)  # half a simulated hour: half a real second
    assert clock.now() - before >= timedelta(seconds=1800)


async def test_sim_clock_sleep_ends_when_the_clock_is_moved() -> None:
    clock = SimClock(datetime(2024, 3, 1, tzinfo=UTC), factor=0)  # frozen
    sleeper = asyncio.create_task(clock.sleep(3600))
    await asyncio.sleep(0)
    assert not sleeper.done()
    clock.advance(timedelta(hours=1))
    async with asyncio.timeout(HANG_GUARD_S):
        await sleeper
    assert clock.now() == datetime(2024, 3, 1, 1, tzinfo=UTC)


async def test_sleep_until_a_frozen_clock_is_set() -> None:
    clock = SimClock(datetime(2024, 3, 1, tzinfo=UTC), factor=0)
    target = datetime(2024, 3, 2, tzinfo=UTC)
    sleeper = asyncio.create_task(sleep_until(clock, target))
    await asyncio.sleep(0)
    clock.set(target)
    async with asyncio.timeout(HANG_GUARD_S):
        await sleeper
    assert sleeper.done() and clock.now() >= target


def test_clock_for_follows_the_simulators_origin_when_the_file_has_one() -> None:
    assert isinstance(clock_for(Fleet()), WallClock)
    assert isinstance(clock_for(Fleet(simulation=Simulation(factor=60))), WallClock)
    origin = datetime(2024, 3, 1, tzinfo=UTC)
    clock = clock_for(Fleet(simulation=Simulation(factor=60, clock_origin=origin)))
    assert isinstance(clock, ScaledClock)
    assert clock.factor == 60 and clock.origin == origin


def test_the_origin_round_trips_through_a_generated_fleet_file() -> None:
    sim = SimClock(factor=120)
    text = to_toml({"simulation": {"factor": 120.0, "clock_origin": sim.origin}})
    fleet = Fleet.model_validate(tomllib.loads(text))
    assert fleet.simulation is not None
    assert fleet.simulation.clock_origin == sim.origin
    clock = clock_for(fleet)
    assert isinstance(clock, ScaledClock) and clock.factor == 120


async def test_a_served_generated_fleet_names_its_clock_origin(tmp_path) -> None:
    from headend.config import load_config
    from headend.simulation.generated import generated_fleet
    from headend.simulation.generator import FleetShape

    path = tmp_path / "generated.toml"
    shape = FleetShape(meters=2, factor=600, gprs_port=0, history=timedelta(hours=1))
    async with generated_fleet(shape, path) as served:
        fleet = (await asyncio.to_thread(load_config, path)).fleet
        assert fleet.simulation is not None
        assert fleet.simulation.clock_origin == served.sim.clock.origin
        clock = clock_for(fleet)
        assert isinstance(clock, ScaledClock) and clock.factor == 600
        first, second, third = served.sim.clock.now(), clock.now(), served.sim.clock.now()
        # equal but for the microseconds between the reads, x600
        assert first - timedelta(seconds=5) <= second <= third + timedelta(seconds=5)
