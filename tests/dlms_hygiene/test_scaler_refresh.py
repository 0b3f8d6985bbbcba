"""Scaler/unit and capture-object caches: a re-parametrised meter is read right at once.

The simulated meter is re-parametrised with `set_register_scaler`: the register then reports the
same physical energy at another resolution (raw value re-expressed), as a meter changed in the
field does. The client still has the old scaler cached from an earlier read.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from drivers.contract import Point, Reading
from drivers.dlms.client.meter_cache import forget_meter
from drivers.dlms.client.profile import COLUMNS, Column
from drivers.dlms.client.reading import SCALERS
from drivers.sim.cosem import set_register_scaler
from drivers.sim.physics import (
    CLOCK,
    EXPORT_TOTAL,
    IMPORT_TARIFF,
    IMPORT_TOTAL,
    LOAD_PROFILE,
    VOLTAGE,
)

from .conftest import Hygiene

HANG_GUARD_S = 15.0
POINTS = [
    Point(obis=CLOCK),
    Point(obis=VOLTAGE[0]),
    Point(obis=IMPORT_TOTAL),
    *(Point(obis=o) for o in IMPORT_TARIFF),
]


def by_obis(readings: list[Reading]) -> dict[str, Reading]:
    return {r.obis: r for r in readings}


def physical(hygiene: Hygiene, obis: str) -> Decimal:
    value = hygiene.meter.value(obis)
    assert isinstance(value, Decimal)
    return value


@pytest.mark.parametrize("framing", ["wrapper", "hdlc"])
@pytest.mark.parametrize("max_list", [10, 1], ids=["get-list", "one-by-one"])
async def test_changed_scaler_is_read_right_in_the_same_session(
    hygiene: Hygiene, framing: str, max_list: int
) -> None:
    settings = await hygiene.settings(framing, max_list=max_list)
    async with asyncio.timeout(HANG_GUARD_S):
        async with await hygiene.open(settings) as session:
            before = by_obis(await session.read(POINTS))
            assert before[IMPORT_TOTAL].value == physical(hygiene, IMPORT_TOTAL)
            assert SCALERS.get(hygiene.meter_id, IMPORT_TOTAL) is not None

            # 10 Wh resolution: with the cached scaler 0 the energy would read ten times lower
            set_register_scaler(hygiene.meter, IMPORT_TOTAL, 1)
            coarse = by_obis(await session.read(POINTS))

            # 0.1 Wh resolution: with the cached scaler 1 it would read a hundred times higher
            set_register_scaler(hygiene.meter, IMPORT_TOTAL, -1)
            fine = by_obis(await session.read(POINTS))

    energy = physical(hygiene, IMPORT_TOTAL)
    coarse_wh = coarse[IMPORT_TOTAL].value
    assert isinstance(coarse_wh, Decimal)
    assert abs(coarse_wh - energy) <= 5  # half the 10 Wh resolution
    assert coarse_wh % 10 == 0 and coarse[IMPORT_TOTAL].unit == "Wh"
    assert fine[IMPORT_TOTAL].value == energy and fine[IMPORT_TOTAL].unit == "Wh"
    assert SCALERS.get(hygiene.meter_id, IMPORT_TOTAL).scaler == -1  # type: ignore[union-attr]
    # the other registers, unchanged, still read right after the meter's scalers were dropped
    for readings in (coarse, fine):
        for obis in (*IMPORT_TARIFF, VOLTAGE[0]):
            assert readings[obis].value == before[obis].value, obis
        assert readings[VOLTAGE[0]].unit == "V"


async def test_changed_scaler_is_read_right_by_a_later_session(hygiene: Hygiene) -> None:
    settings = await hygiene.settings()
    points = [Point(obis=IMPORT_TOTAL)]
    async with asyncio.timeout(HANG_GUARD_S):
        async with await hygiene.open(settings) as session:
            await session.read(points)
        set_register_scaler(hygiene.meter, IMPORT_TOTAL, 2)  # 100 Wh: "kWh with one decimal"
        async with await hygiene.open(settings) as session:
            (reading,) = await session.read(points)
    assert isinstance(reading.value, Decimal)
    assert abs(reading.value - physical(hygiene, IMPORT_TOTAL)) <= 50
    assert reading.value % 100 == 0


async def test_consistent_energy_costs_no_extra_request(hygiene: Hygiene) -> None:
    settings = await hygiene.settings(max_list=1)
    points = [Point(obis=IMPORT_TOTAL), Point(obis=EXPORT_TOTAL)]
    async with asyncio.timeout(HANG_GUARD_S):
        async with await hygiene.open(settings) as session:
            await session.read(points)
            cold = hygiene.gets()
            for _ in range(3):
                await session.read(points)
    assert cold == 4  # two values and two scalers
    assert hygiene.gets() - cold == 3 * 2  # values only: the scalers stay cached


async def test_scalers_older_than_the_max_age_are_read_again(hygiene: Hygiene) -> None:
    # a voltage is no cumulative energy: a changed scaler shows only through the cache's age
    points = [Point(obis=VOLTAGE[0])]
    volts = physical(hygiene, VOLTAGE[0])
    async with asyncio.timeout(HANG_GUARD_S):
        long_lived = await hygiene.settings(max_list=1)
        async with await hygiene.open(long_lived) as session:
            (first,) = await session.read(points)
            set_register_scaler(hygiene.meter, VOLTAGE[0], -2)
            (stale,) = await session.read(points)
        assert first.value == volts
        # within the max age the cached scaler -1 is used: proof that it was cached
        assert stale.value == volts * 10

        short_lived = await hygiene.settings(max_list=1, cache_max_age_s=0.2)
        await asyncio.sleep(0.4)
        async with await hygiene.open(short_lived) as session:
            gets = hygiene.gets()
            (fresh,) = await session.read(points)
    assert hygiene.gets() - gets == 2  # the value and the expired scaler
    assert fresh.value == volts and fresh.unit == "V"


async def test_forget_meter_drops_scalers_and_capture_objects(hygiene: Hygiene) -> None:
    settings = await hygiene.settings(max_list=1)
    now = hygiene.clock.now()
    start, end = now - timedelta(hours=1), now

    async def read_all() -> int:
        gets = hygiene.gets()
        async with await hygiene.open(settings) as session:
            await session.read([Point(obis=IMPORT_TOTAL)])
            await session.read_profile(Point(obis=LOAD_PROFILE), start, end)
        return hygiene.gets() - gets

    async with asyncio.timeout(HANG_GUARD_S):
        cold = await read_all()
        warm = await read_all()
        forget_meter(hygiene.meter_id)
        assert SCALERS.get(hygiene.meter_id, IMPORT_TOTAL) is None
        assert COLUMNS.get(hygiene.meter_id, LOAD_PROFILE) is None
        again = await read_all()
    # cold: energy, its scaler, capture objects, export's scaler, buffer (import's scaler is
    # shared with the register); warm: energy and buffer
    assert (cold, warm, again) == (5, 2, 5)


@pytest.mark.parametrize(
    "stale",
    [
        # the profile had two columns when it was cached; it has three now
        [Column(8, CLOCK, 2, 0), Column(3, IMPORT_TOTAL, 2, 0)],
        # same count, but the column that holds the clock now was a register
        [Column(3, EXPORT_TOTAL, 2, 0), Column(3, IMPORT_TOTAL, 2, 0), Column(8, CLOCK, 2, 0)],
    ],
    ids=["column-count", "column-types"],
)
async def test_profile_rows_that_do_not_fit_refresh_the_capture_objects(
    hygiene: Hygiene, stale: list[Column]
) -> None:
    now = hygiene.clock.now()
    start, end = now - timedelta(hours=2), now
    settings = await hygiene.settings()
    COLUMNS.put(hygiene.meter_id, LOAD_PROFILE, stale)
    async with asyncio.timeout(HANG_GUARD_S):
        async with await hygiene.open(settings) as session:
            rows = await session.read_profile(Point(obis=LOAD_PROFILE), start, end)
    expected = {
        (row.clock, IMPORT_TOTAL): row.import_wh for row in hygiene.meter.profile_rows(start, end)
    } | {(row.clock, EXPORT_TOTAL): row.export_wh for row in hygiene.meter.profile_rows(start, end)}
    assert len(expected) == 2 * 8
    assert {(r.capture_time, r.obis): r.value for r in rows} == expected
    assert [c.obis for c in COLUMNS.get(hygiene.meter_id, LOAD_PROFILE) or []] == [
        CLOCK,
        IMPORT_TOTAL,
        EXPORT_TOTAL,
    ]
