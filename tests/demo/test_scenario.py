"""The grid demo's scenario: the fleet mix, the simulator's command line (as `headend simulate`
parses it), and the grid fleet `headend simulate --feeders` serves and writes."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from headend.cli.main import build_parser
from headend.config import load_config
from headend.demo.scenario import DemoOptions, fleet_mix
from headend.simulation.generated import USAGE_PLAN, USAGE_POINTS, GridSetup, generated_fleet
from headend.simulation.generator import FleetShape, counts, generate
from headend.simulation.grid import GridShape


@pytest.mark.parametrize("households", [20, 60, 1_000, 10_000])
def test_the_fleet_mixes_every_kind_of_channel(households: int) -> None:
    mix = fleet_mix(households)
    shape = FleetShape(meters=households, **mix.model_dump())
    kinds = counts(generate(shape))
    assert sum(kinds.values()) == households
    assert kinds["hdlc"] and kinds["modbus"] and kinds["dlt645"] and kinds["gprs"]
    assert kinds["gprs"] > households / 2  # the rest are GPRS meters


def test_ten_thousand_households() -> None:
    mix = fleet_mix(10_000)
    assert (mix.concentrators, mix.meters_per_concentrator) == (20, 100)
    assert mix.modbus_gateways * mix.units_per_gateway == 640
    assert (mix.dlt645_lines, mix.meters_per_line) == (1, 8)


def test_the_clock_factor_fits_the_evening_into_the_minutes() -> None:
    options = DemoOptions(day=date(2026, 11, 30))
    assert options.start_at == datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert options.end_at == datetime(2026, 12, 1, 0, tzinfo=UTC)  # 24:00 is the next midnight
    assert options.factor == pytest.approx(96.0)  # 8 hours in 5 minutes
    short = DemoOptions(day=date(2026, 11, 30), start=time(17), end=time(22), minutes=1)
    assert short.factor == pytest.approx(300.0)


def test_the_simulator_command_is_a_simulate_command_line(tmp_path: Path) -> None:
    options = DemoOptions(households=500, feeders=3, day=date(2026, 11, 30), seed=7)
    command = options.simulator_command(tmp_path / "fleet.toml", 40_000)
    assert command[1:4] == ["-m", "headend.cli.main", "simulate"]
    args = build_parser().parse_args(command[3:])
    assert args.meters == 500 and args.feeders == 3 and args.seed == 7
    assert args.factor == pytest.approx(options.factor)
    assert args.start == options.start_at
    assert args.grid_until == time(0, 0)
    assert args.gprs_port == 40_000 and args.write_config == str(tmp_path / "fleet.toml")
    assert args.usage_every == options.usage_every_min and args.lease == options.lease_min
    assert args.limit_step == options.limit_step_w


async def test_a_served_grid_fleet_has_the_usage_plan_and_a_load_section(tmp_path: Path) -> None:
    shape = FleetShape(meters=40, modbus_gateways=1, units_per_gateway=8, gprs_port=0)
    grid = GridSetup(
        shape=GridShape(feeders=2),
        day=date(2026, 11, 30),
        usage_every=timedelta(minutes=30),
        lease=timedelta(minutes=45),
        limit_step_w=300,
    )
    path = tmp_path / "grid.toml"
    async with generated_fleet(shape, path, grid=grid) as served:
        data = tomllib.loads(path.read_text())
        config = load_config(path)
        assert served.config.fleet.load is not None
    scheduled = {p["name"]: p["schedule"] for p in data["plans"] if "schedule" in p}
    # only the usage plan is scheduled: reading every household's instantaneous registers
    # every 5 minutes (the generated fleet's default) is more than the demo's machine can do
    assert scheduled == {USAGE_PLAN: "every 30 minutes"}
    assert config.fleet.plan(USAGE_PLAN).points == USAGE_POINTS
    load = config.fleet.load
    assert load is not None
    assert [f.id for f in load.feeders] == ["feeder-1", "feeder-2"]
    assert load.cycle == timedelta(minutes=5) and load.lease == timedelta(minutes=45)
    assert load.limit_step_w == 300
    assert load.usage_max_age > timedelta(minutes=30)  # a usage run's readings last to the next
    # the feeder meters' channels listen: the file names their ports
    ports = {c["id"]: c["port"] for c in data["channels"]}
    assert all(ports[f.meter] > 1 for f in load.feeders)


def test_feeders_need_a_generated_fleet(tmp_path: Path) -> None:
    from headend.cli.main import main

    assert main(["simulate", "--feeders", "2", "--write-config", str(tmp_path / "x.toml")]) == 2
