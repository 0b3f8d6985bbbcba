"""The feeder meter measures the sum of its households: power and energy, PV export counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from drivers.sim.clock import SimClock
from drivers.sim.consumption import HouseholdProfile
from drivers.sim.feeder import FeederMeter, net_wh
from drivers.sim.physics import (
    EXPORT_POWER,
    EXPORT_TOTAL,
    IMPORT_POWER,
    IMPORT_TOTAL,
    SimulatedMeter,
)

NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PV = HouseholdProfile(base_w=200.0, morning_peak_w=0.0, evening_peak_w=0.0, pv_peak_w=3000.0)


def home(i: int) -> HouseholdProfile:
    return HouseholdProfile(base_w=1000.0 + 200 * i, evening_peak_w=2500.0, pv_peak_w=0.0)


def fleet(pv_households: int) -> tuple[SimClock, list[SimulatedMeter], FeederMeter]:
    clock = SimClock(start=NOON, factor=0)
    homes = [
        SimulatedMeter(f"h{i}", clock, profile=home(i), history=timedelta(hours=2))
        for i in range(6)
    ]
    homes += [
        SimulatedMeter(f"pv{i}", clock, profile=PV, history=timedelta(hours=2))
        for i in range(pv_households)
    ]
    return clock, homes, FeederMeter("F1", clock, homes)


def households_power(homes: list[SimulatedMeter], at: datetime) -> float:
    return sum(imp - exp for imp, exp in (h.power_at(at) for h in homes))


def test_feeder_power_is_the_households_net_power_pv_counted() -> None:
    clock, homes, feeder = fleet(pv_households=2)
    net = households_power(homes, clock.now())
    assert any(h.power_at(clock.now())[1] > 0 for h in homes)  # some PV exports at noon
    assert feeder.value(IMPORT_POWER) == Decimal(round(max(net, 0.0)))
    assert feeder.value(EXPORT_POWER) == Decimal(round(max(-net, 0.0)))
    homes[0].set_limit(100.0)
    homes[1].disconnect()
    lowered = households_power(homes, clock.now())
    assert lowered < net
    assert feeder.value(IMPORT_POWER) == Decimal(round(max(lowered, 0.0)))


def test_feeder_energy_is_the_sum_of_the_households_over_boundaries() -> None:
    clock, homes, feeder = fleet(pv_households=1)
    start_net = sum(net_wh(h) for h in homes)
    start = (feeder.value(IMPORT_TOTAL), feeder.value(EXPORT_TOTAL))
    for minutes in (7, 20, 45, 90):  # reads at uneven times, across profile boundaries
        clock.advance(timedelta(minutes=minutes))
        imported, exported = feeder.value(IMPORT_TOTAL), feeder.value(EXPORT_TOTAL)
        assert isinstance(imported, Decimal) and isinstance(exported, Decimal)
        households = sum(net_wh(h) for h in homes) - start_net  # all synced by the feeder
        assert (imported - start[0]) - (exported - start[1]) == households  # type: ignore[operator]
    assert imported > start[0]  # type: ignore[operator]
    rows = feeder.profile_rows(NOON, clock.now())
    assert [r.clock for r in rows][:2] == [
        NOON + timedelta(minutes=15),
        NOON + timedelta(minutes=30),
    ]


def test_a_feeder_of_pv_homes_at_noon_exports() -> None:
    clock = SimClock(start=NOON, factor=0)
    homes = [
        SimulatedMeter(f"pv{i}", clock, profile=PV, history=timedelta(hours=1)) for i in range(3)
    ]
    feeder = FeederMeter("F2", clock, homes)
    assert feeder.value(IMPORT_POWER) == 0
    assert feeder.value(EXPORT_POWER) == Decimal(round(-households_power(homes, clock.now())))
    clock.advance(timedelta(minutes=30))
    exported = feeder.value(EXPORT_TOTAL)
    assert isinstance(exported, Decimal) and exported > 0
    assert feeder.value(IMPORT_TOTAL) == 0


def test_a_feeder_needs_households() -> None:
    with pytest.raises(ValueError):
        FeederMeter("F3", SimClock(start=NOON, factor=0), [])
