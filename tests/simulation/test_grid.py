"""The grid layout of a generated fleet: feeders, feeder meters, household classes, capacities
worked out from the simulated households' own load model."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from drivers.sim.consumption import net_at
from drivers.sim.feeder import FeederMeter
from headend.config import load_config
from headend.simulation.fleet import simulated_fleet
from headend.simulation.generator import FleetShape, generate, to_toml
from headend.simulation.grid import (
    FEEDER_METER_PREFIX,
    GridShape,
    add_grid,
    evening_hours,
    household_profile,
)


def _fleet() -> tuple[dict[str, object], dict[str, object], GridShape]:
    shape = FleetShape(
        meters=600,
        concentrators=2,
        meters_per_concentrator=100,
        modbus_gateways=4,
        units_per_gateway=16,
        dlt645_lines=2,
        meters_per_line=8,
    )
    data = generate(shape)
    grid = GridShape(feeders=3, pv_share=0.05, priority_share=0.02)
    load = add_grid(data, grid, "127.0.0.1", date(2026, 11, 30))
    return data, load, grid


def test_every_household_is_on_exactly_one_feeder_with_a_meter_of_its_own() -> None:
    data, load, _grid = _fleet()
    meters = data["meters"]
    assert isinstance(meters, list)
    households = [m["id"] for m in meters if not m["id"].startswith(FEEDER_METER_PREFIX)]
    feeders = load["feeders"]
    assert isinstance(feeders, list)
    placed = Counter(h for f in feeders for h in f["households"])
    assert set(placed) == set(households)
    assert set(placed.values()) == {1}
    sizes = [len(f["households"]) for f in feeders]
    assert max(sizes) - min(sizes) <= 100  # whole channels: at most one concentrator apart
    channels = {c["id"] for c in data["channels"]}  # type: ignore[union-attr]
    for feeder in feeders:
        meter = next(m for m in meters if m["id"] == feeder["meter"])
        assert meter["protocol"] == "dlms" and meter["channel"] in channels
    # the feeder meters come after every household: the households keep their simulator seeds
    assert all(m["id"].startswith(FEEDER_METER_PREFIX) for m in meters[len(households) :])


def test_feeders_mix_protocols() -> None:
    data, load, _grid = _fleet()
    protocol = {m["id"]: m["protocol"] for m in data["meters"]}  # type: ignore[union-attr]
    for feeder in load["feeders"]:  # type: ignore[union-attr]
        kinds = Counter(protocol[h] for h in feeder["households"])
        assert kinds["dlms"] and kinds["modbus"], kinds


def test_capacities_come_from_the_households_load_model() -> None:
    data, load, grid = _fleet()
    index = {m["id"]: i for i, m in enumerate(data["meters"])}  # type: ignore[union-attr]
    hours = evening_hours(grid)
    assert hours[0] == 16.0 and hours[-1] == 0.0  # 16:00 to midnight, every 5 minutes
    for n, feeder in enumerate(load["feeders"]):  # type: ignore[union-attr]
        profiles = [household_profile(1, index[h], grid.pv_share) for h in feeder["households"]]
        peak_kw = max(sum(net_at(p, h) for p in profiles) for h in hours) / 1000
        usable = feeder["capacity_kw"] * (1 - feeder["margin"])
        ratio = grid.overload if n == 0 else 1 / grid.headroom
        assert peak_kw / usable == pytest.approx(ratio, rel=1e-3)


def test_priority_households_and_dlt645_relays() -> None:
    data, load, _grid = _fleet()
    households = load["households"]
    assert isinstance(households, dict)
    medical = [h for h, entry in households.items() if entry.get("priority") == "medical"]
    assert len(medical) == 600 // 50
    protocol = {m["id"]: m["protocol"] for m in data["meters"]}  # type: ignore[union-attr]
    no_limiter = {h for h, entry in households.items() if entry.get("limiter") is False}
    assert no_limiter == {h for h, p in protocol.items() if p == "dlt645"}
    models = {m.get("model") for m in data["meters"] if m["protocol"] == "modbus"}  # type: ignore[union-attr]
    assert models == {"hes-limiter"}  # Modbus households have a relay and a limiter
    # DLMS households may be commanded: an authenticated association (here LLS)
    dlms = [m for m in data["meters"] if m["protocol"] == "dlms"]  # type: ignore[union-attr]
    households_dlms = [m for m in dlms if not m["id"].startswith("feeder-meter-")]
    assert {m.get("auth") for m in households_dlms} == {"low"}


def test_demand_response_on_the_second_feeder() -> None:
    _data, load, _grid = _fleet()
    (event,) = load["demand_response"]  # type: ignore[misc]
    assert event["feeder"] == load["feeders"][1]["id"]  # type: ignore[index]
    assert event["start"] == datetime(2026, 11, 30, 18, tzinfo=UTC)
    assert event["end"] == datetime(2026, 11, 30, 20, tzinfo=UTC)
    assert event["reduction_kw"] > 0


def test_the_grid_loads_as_a_fleet_configuration(tmp_path: Path) -> None:
    data, _load, _grid = _fleet()
    path = tmp_path / "grid.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    config = load_config(path)
    assert config.fleet.load is not None
    assert [f.id for f in config.fleet.load.feeders] == ["feeder-1", "feeder-2", "feeder-3"]
    assert config.fleet.load.demand_response[0].reduction_kw > 0


async def test_a_served_grid_fleet_measures_each_feeder_at_its_meter(tmp_path: Path) -> None:
    shape = FleetShape(meters=40, modbus_gateways=1, units_per_gateway=8, gprs_port=0)
    data = generate(shape)
    load = add_grid(data, GridShape(feeders=2, pv_share=0.5), "127.0.0.1", date(2026, 11, 30))
    path = tmp_path / "grid.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    async with simulated_fleet(load_config(path)) as (sim, _served):
        for feeder in load["feeders"]:
            meter = sim.meters[feeder["meter"]]
            assert isinstance(meter, FeederMeter)
            now = sim.clock.now()
            imports = [sim.meters[h].power_at(now) for h in feeder["households"]]
            net_w = sum(i - e for i, e in imports)
            assert meter.power_at(now) == pytest.approx((max(net_w, 0), max(-net_w, 0)))
        with_pv = [m for m in sim.meters.values() if m.profile.pv_peak_w > 0]
        assert 0 < len(with_pv) < 40  # the configured share, by each meter's seed
