"""The simulated meter's billing log: what it captures, when, and how long it keeps it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from drivers.sim.billing_log import BillingLog
from drivers.sim.physics import SimulatedMeter
from tests.billing_values.conftest import (
    HISTORY,
    NOW,
    SEED,
    frozen_clock,
    registers_at,
    utc_midnight,
)


def test_days_are_captured_at_each_billing_midnight_as_the_meter_lives() -> None:
    clock = frozen_clock()
    meter = SimulatedMeter("l1", clock, seed=SEED, history=timedelta(days=3))
    assert [row.clock for row in meter.daily.rows()] == [utc_midnight(n) for n in (2, 1, 0)]
    clock.advance(timedelta(days=1))
    meter.sync()
    newest = meter.daily.newest(1)
    assert newest is not None and newest.clock == utc_midnight(-1)
    # the load profile's row at the same instant is the same total register
    (profile_row,) = meter.load_profile.between(newest.clock, newest.clock)
    assert profile_row.import_wh == newest.import_wh
    assert profile_row.export_wh == newest.export_wh


def test_months_are_the_days_that_are_a_first() -> None:
    meter = SimulatedMeter("l2", frozen_clock(), seed=SEED, history=HISTORY)
    assert [row.clock for row in meter.monthly.rows()] == [
        datetime(2025, month, 1, tzinfo=UTC) for month in (1, 2, 3)
    ]
    march = meter.monthly.newest(1)
    assert march is not None
    expected = registers_at(march.clock)
    assert march.import_wh == expected["1.0.1.8.0.255"]
    assert march.import_tariff_wh[2] == expected["1.0.1.8.3.255"]


def test_a_billing_offset_moves_the_capture_to_that_zone_s_midnight() -> None:
    meter = SimulatedMeter(
        "l3",
        frozen_clock(),
        seed=SEED,
        history=timedelta(days=2),
        billing_offset=timedelta(hours=8),
    )
    assert [row.clock.hour for row in meter.daily.rows()] == [16, 16]
    with pytest.raises(ValueError, match="quarter-hours"):
        SimulatedMeter("l4", frozen_clock(), billing_offset=timedelta(minutes=20))


def test_the_log_keeps_the_newest_rows_and_finds_them_out_of_order() -> None:
    log = BillingLog(maxlen=3)
    day = 86_400_000_000
    for n in range(5):
        log.append(n * day, (n, 0, 0, 0), n)
    assert [row.export_wh for row in log.rows()] == [2, 3, 4]
    assert log.newest(1) is not None and log.newest(4) is None
    # a clock set back stamps a row earlier than the one before it
    log.append(day // 2, (9, 0, 0, 0), 9)
    found = log.between(datetime(1970, 1, 1, tzinfo=UTC), NOW)
    assert sorted(row.export_wh for row in found) == [3, 4, 9]
