"""The simulated meter's history: integrated in one step per 15-minute period, held compactly.

History must agree with the 60-second live integration, the registers must be exactly the profile
rows and each other's sum, and live commands must still act on the flow.
"""

import itertools
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from drivers.sim.clock import SimClock
from drivers.sim.consumption import (
    GRID_PER_DAY,
    GRID_PER_HOUR,
    HouseholdProfile,
    net_at,
    net_on_grid,
)
from drivers.sim.physics import (
    EXPORT_TOTAL,
    IMPORT_TARIFF,
    IMPORT_TOTAL,
    ProfileRow,
    SimulatedMeter,
    tariff_of,
)
from drivers.sim.profile_log import ProfileLog, to_us

MIDNIGHT = datetime(2026, 6, 2, tzinfo=UTC)
DAY = timedelta(days=1)
PROFILES = [
    HouseholdProfile(),
    HouseholdProfile(base_w=150, pv_peak_w=5000),  # exports most of the day
    HouseholdProfile(base_w=400, evening_peak_w=3800, pv_peak_w=2000),  # crosses over twice
    HouseholdProfile.random(12, pv_share=1.0),
]


def energies(meter: SimulatedMeter) -> tuple[Decimal, Decimal]:
    imp, exp = meter.value(IMPORT_TOTAL), meter.value(EXPORT_TOTAL)
    assert isinstance(imp, Decimal) and isinstance(exp, Decimal)
    return imp, exp


@pytest.mark.parametrize("profile", PROFILES)
def test_the_sampled_model_is_the_model(profile: HouseholdProfile) -> None:
    for k in range(GRID_PER_DAY):
        assert net_on_grid(profile, k) == pytest.approx(net_at(profile, k / GRID_PER_HOUR))


def fine_step_day(profile: HouseholdProfile) -> SimulatedMeter:
    """The same day lived read by read, every 60 s: the live integration's own steps."""
    clock = SimClock(start=MIDNIGHT - DAY, factor=0)
    meter = SimulatedMeter(
        "fine", clock, profile=profile, history=timedelta(0), initial_import_wh=0
    )
    for _ in range(24 * 60):
        clock.advance(timedelta(seconds=60))
        meter.sync()
    return meter


@pytest.mark.parametrize("profile", PROFILES)
def test_history_agrees_with_fine_step_integration(profile: HouseholdProfile) -> None:
    clock = SimClock(start=MIDNIGHT, factor=0)
    fast = SimulatedMeter("fast", clock, profile=profile, history=DAY, initial_import_wh=0)
    fine = fine_step_day(profile)
    (imp, exp), (fine_imp, fine_exp) = energies(fast), energies(fine)
    daily = fine_imp + fine_exp
    assert daily > 1000
    assert abs(imp - fine_imp) <= daily * Decimal("0.005")
    assert abs(exp - fine_exp) <= daily * Decimal("0.005")
    fast_rows, fine_rows = list(fast.load_profile), list(fine.load_profile)
    assert [row.clock for row in fast_rows] == [row.clock for row in fine_rows]
    assert len(fast_rows) == 96
    # period by period too: a quarter hour's energy within a few Wh of the fine steps
    for (a, b), (c, d) in zip(
        itertools.pairwise(fast_rows), itertools.pairwise(fine_rows), strict=True
    ):
        assert abs((b.import_wh - a.import_wh) - (d.import_wh - c.import_wh)) <= 10
        assert abs((b.export_wh - a.export_wh) - (d.export_wh - c.export_wh)) <= 10


@pytest.mark.parametrize("profile", PROFILES)
def test_registers_are_the_start_plus_the_profile_deltas_exactly(
    profile: HouseholdProfile,
) -> None:
    clock = SimClock(start=MIDNIGHT, factor=0)
    start_wh = 52_000.7  # a fraction: whole Wh are counted, the rest carried
    meter = SimulatedMeter("m", clock, profile=profile, history=DAY, initial_import_wh=start_wh)
    rows = list(meter.load_profile)
    imp, exp = energies(meter)
    assert rows[-1].clock == MIDNIGHT
    assert imp == rows[-1].import_wh and exp == rows[-1].export_wh
    starts = [ProfileRow(MIDNIGHT - DAY, Decimal(52_000), Decimal(0)), *rows]
    assert imp == 52_000 + sum(b.import_wh - a.import_wh for a, b in itertools.pairwise(starts))
    assert exp == sum(b.export_wh - a.export_wh for a, b in itertools.pairwise(starts))
    # each quarter hour lies in one tariff: a tariff register holds exactly its periods' deltas
    by_tariff = [Decimal(0)] * 4
    for a, b in itertools.pairwise(starts):
        by_tariff[tariff_of(a.clock)] += b.import_wh - a.import_wh
    by_tariff[0] += 52_000
    assert [meter.value(code) for code in IMPORT_TARIFF] == by_tariff
    assert all(b.import_wh >= a.import_wh for a, b in itertools.pairwise(rows))
    assert all(b.export_wh >= a.export_wh for a, b in itertools.pairwise(rows))


def test_tariffs_sum_to_the_total_at_any_instant_of_live_operation() -> None:
    clock = SimClock(start=MIDNIGHT + timedelta(hours=6, seconds=17), factor=0)
    meter = SimulatedMeter("m", clock, profile=PROFILES[2], history=timedelta(hours=7, minutes=3))
    for step in itertools.islice(itertools.cycle((7, 59, 61, 600, 3 * 3600 + 11)), 60):
        clock.advance(timedelta(seconds=step))
        tariffs = sum(meter.value(code) for code in IMPORT_TARIFF)  # type: ignore[misc]
        assert tariffs == meter.value(IMPORT_TOTAL)
        last = list(meter.load_profile)[-1]
        assert last.import_wh <= tariffs


@pytest.mark.parametrize("step", [timedelta(seconds=30), timedelta(minutes=40)])
def test_a_disconnect_during_live_operation_stops_the_flow(step: timedelta) -> None:
    clock = SimClock(start=MIDNIGHT + timedelta(hours=18), factor=0)  # evening peak
    meter = SimulatedMeter("m", clock, profile=HouseholdProfile(), history=DAY)
    before, _ = energies(meter)
    clock.advance(timedelta(minutes=5))
    meter.disconnect()
    frozen, _ = energies(meter)
    assert frozen > before
    rows_before = len(meter.profile_rows(MIDNIGHT, MIDNIGHT + DAY))
    for _ in range(int(timedelta(hours=2) / step)):
        clock.advance(step)
        assert energies(meter)[0] == frozen
    rows = meter.profile_rows(MIDNIGHT, MIDNIGHT + DAY)
    assert len(rows) == rows_before + 8  # still captured every 15 minutes, flat
    assert {row.import_wh for row in rows[rows_before:]} == {frozen}
    meter.reconnect()
    clock.advance(step)
    assert energies(meter)[0] > frozen


@pytest.mark.parametrize("step", [timedelta(seconds=45), timedelta(minutes=15)])
def test_a_load_limit_during_live_operation_caps_the_energy(step: timedelta) -> None:
    clock = SimClock(start=MIDNIGHT + timedelta(hours=18), factor=0)
    meter = SimulatedMeter("m", clock, profile=HouseholdProfile(), history=DAY)
    meter.set_limit(300.0)  # the evening peak is ~2.7 kW: the limit binds throughout
    before, _ = energies(meter)
    for _ in range(int(timedelta(hours=2) / step)):
        clock.advance(step)
        meter.sync()
    after, _ = energies(meter)
    assert 599 <= after - before <= 600


def test_rows_carry_the_meter_clock_and_are_found_after_a_clock_set_back() -> None:
    clock = SimClock(start=MIDNIGHT, factor=0)
    meter = SimulatedMeter("m", clock, profile=HouseholdProfile(), history=timedelta(hours=2))
    meter.set_time(MIDNIGHT - timedelta(hours=1))  # the meter's clock now runs an hour behind
    clock.advance(timedelta(minutes=30))
    rows = meter.profile_rows(MIDNIGHT - timedelta(hours=1), MIDNIGHT - timedelta(minutes=30))
    # stamped before the set: 23:00, 23:15, 23:30; after it, the periods ending at 00:15 and
    # 00:30 of simulated time are stamped 23:15 and 23:30 by the meter's clock
    stamps = [row.clock.strftime("%H:%M") for row in rows]
    assert stamps == ["23:00", "23:15", "23:30", "23:15", "23:30"]


def test_profile_log_keeps_the_newest_rows_like_a_bounded_deque() -> None:
    log = ProfileLog(maxlen=40)
    for i in range(1000):
        log.append(i * 900_000_000, 10 * i, i)
    rows = list(log)
    assert len(log) == len(rows) == 40 and log.maxlen == 40
    assert [int(row.import_wh) for row in rows] == [10 * i for i in range(960, 1000)]
    assert log.last() == (999 * 900_000_000, 9990, 999)
    first, last = rows[0].clock, rows[-1].clock
    assert log.between(first - timedelta(days=1), first) == rows[:1]
    assert log.between(first, last) == rows
    assert log.between(last + timedelta(seconds=1), last + DAY) == []
    assert to_us(first) == 960 * 900_000_000


def test_a_day_of_history_is_small() -> None:
    clock = SimClock(start=MIDNIGHT + timedelta(minutes=7), factor=0)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        meters = [SimulatedMeter(f"m{i}", clock, seed=i, history=DAY) for i in range(200)]
        per_meter = (tracemalloc.get_traced_memory()[0] - base) / len(meters)
    finally:
        tracemalloc.stop()
    assert all(len(meter.load_profile) == 96 for meter in meters)
    # ~4.3 KiB (2.3 KiB of rows); 96 ProfileRow objects of datetime and Decimal took ~32 KiB
    assert per_meter < 8 * 1024
