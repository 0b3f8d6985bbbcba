"""The protocol-neutral simulated meter: energy integrates, commands are obeyed."""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from drivers.sim.clock import SimClock
from drivers.sim.consumption import HouseholdProfile
from drivers.sim.physics import (
    EXPORT_TOTAL,
    IMPORT_POWER,
    IMPORT_TARIFF,
    IMPORT_TOTAL,
    SimulatedMeter,
)

NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def make(profile=None):
    # A household without PV unless asked: at noon PV would cover the whole demand.
    clock = SimClock(start=NOON, factor=0)
    meter = SimulatedMeter(
        "m", clock, profile=profile or HouseholdProfile(), history=timedelta(hours=3)
    )
    return clock, meter


def test_energy_grows_and_tariffs_add_up():
    clock, meter = make()
    first = meter.value(IMPORT_TOTAL)
    clock.advance(timedelta(hours=2))
    later = meter.value(IMPORT_TOTAL)
    assert isinstance(first, Decimal) and isinstance(later, Decimal)
    assert later > first
    tariffs = sum(meter.value(code) for code in IMPORT_TARIFF)  # type: ignore[misc]
    # each register is truncated to whole Wh, so the sum may lag the total by < 4 Wh
    assert 0 <= later - tariffs < 4


def test_disconnect_stops_consumption_and_reconnect_resumes():
    clock, meter = make()
    meter.disconnect()
    frozen = meter.value(IMPORT_TOTAL)
    clock.advance(timedelta(hours=1))
    assert meter.value(IMPORT_TOTAL) == frozen
    assert meter.value(IMPORT_POWER) == 0
    meter.reconnect()
    clock.advance(timedelta(hours=1))
    assert meter.value(IMPORT_TOTAL) > frozen  # type: ignore[operator]


def test_load_limit_caps_power():
    _clock, meter = make()
    meter.set_limit(100.0)
    assert meter.value(IMPORT_POWER) <= 100


def test_profile_rows_every_quarter_hour():
    clock, meter = make()
    clock.advance(timedelta(hours=1))
    rows = meter.profile_rows(NOON - timedelta(hours=3), NOON + timedelta(hours=1))
    assert len(rows) == 16
    assert all((b.clock - a.clock) == timedelta(minutes=15) for a, b in itertools.pairwise(rows))
    assert all(b.import_wh >= a.import_wh for a, b in itertools.pairwise(rows))


def test_pv_household_exports_at_noon():
    clock, meter = make(profile=HouseholdProfile(base_w=100, pv_peak_w=5000))
    before = meter.value(EXPORT_TOTAL)
    clock.advance(timedelta(hours=1))
    assert meter.value(EXPORT_TOTAL) > before  # type: ignore[operator]
