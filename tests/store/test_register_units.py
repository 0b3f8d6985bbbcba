"""`register_units` on both stores: every (meter, register, unit) stored is listed, by a batch
saved alone, by batches grouped into one transaction (SQLite's grouped executemany, PostgreSQL's
COPY), never for a reading kept as a conflict or ignored as a repeat; and the bulk read that takes
a register's unit from it: a register stored in two units within the period is refused, one whose
unit changed outside the period is read in the period's unit."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from decimal import Decimal

import asyncpg
import pytest

from drivers.contract import Reading
from headend.store import Store
from headend.store.register_columns import UnitMismatch
from tests.store.test_register_columns import EXPORT, IMPORT, T0, reading

Unit = tuple[str, str, str]
DAY = timedelta(days=1)


def unitless(read: Reading) -> Reading:
    return read.model_copy(update={"unit": None})


async def stored_units(database: str) -> set[Unit]:
    """The table as stored, read past the store (a SQLite file or a PostgreSQL URL)."""
    query = "SELECT meter_id, obis, unit FROM register_units"
    if database.endswith(".sqlite3"):
        with sqlite3.connect(database) as db:
            return {(m, o, u) for m, o, u in db.execute(query)}
    conn = await asyncpg.connect(database)
    try:
        return {(m, o, u) for m, o, u in await conn.fetch(query)}
    finally:
        await conn.close()


async def test_a_batch_lists_its_units_once(store: Store, database: str) -> None:
    batch = [reading("m1", IMPORT, Decimal(i), 15 * i) for i in range(50)]
    batch += [reading("m1", EXPORT, Decimal(1), 0, unit="kWh"), reading("m2", IMPORT, 7, 0)]
    batch.append(unitless(reading("m2", "0.0.96.1.0.255", "serial", 0)))
    assert (await store.save_batch(batch)).new == 53
    assert await stored_units(database) == {
        ("m1", IMPORT, "Wh"),
        ("m1", EXPORT, "kWh"),
        ("m2", IMPORT, "Wh"),
        ("m2", "0.0.96.1.0.255", ""),  # no unit
    }


async def test_grouped_batches_list_their_units(store: Store, database: str) -> None:
    def batch(meter: str, unit: str) -> list[Reading]:
        return [reading(meter, IMPORT, Decimal(i), 15 * i, unit=unit) for i in range(20)]

    # saved at once: the store writes the batches after the first in one transaction
    results = await asyncio.gather(*(store.save_batch(batch(f"m{b}", "Wh")) for b in range(6)))
    assert [r.new for r in results] == [20] * 6
    # m0 again in kWh, same values: repeats, not stored, and its kWh not listed
    again = [batch("n0", "Wh"), batch("m0", "kWh"), batch("n1", "varh"), batch("n2", "Wh")]
    results = await asyncio.gather(*(store.save_batch(b) for b in again))
    assert [r.new for r in results] == [20, 0, 20, 20]
    assert await stored_units(database) == {(f"m{b}", IMPORT, "Wh") for b in range(6)} | {
        ("n0", IMPORT, "Wh"),
        ("n1", IMPORT, "varh"),
        ("n2", IMPORT, "Wh"),
    }


async def test_conflicts_and_repeats_list_no_unit(store: Store, database: str) -> None:
    await store.save_batch([reading("m1", IMPORT, Decimal(100), 0)])
    # the same key in kWh: another value is a conflict, the same value a repeat; neither is stored
    result = await store.save_batch(
        [
            reading("m1", IMPORT, Decimal("0.1"), 0, unit="kWh"),
            reading("m1", IMPORT, Decimal(100), 0, unit="varh"),
            reading("m1", IMPORT, Decimal(101), 15),  # new, beside them
        ]
    )
    assert result.new == 1 and [c.new_value for c in result.conflicts] == ["0.1"]
    assert await stored_units(database) == {("m1", IMPORT, "Wh")}
    [column] = await store.register_columns(["m1"], [IMPORT], T0, T0 + DAY)
    assert column.unit == "Wh" and column.values == [Decimal(100), Decimal(101)]


async def test_grouped_batches_with_a_conflict_list_only_stored_units(
    store: Store, database: str
) -> None:
    await store.save_batch([reading("m1", IMPORT, Decimal(100), 0)])
    clash = [reading("m1", IMPORT, Decimal(5), 0, unit="kWh")]
    fresh = [reading("m2", EXPORT, Decimal(1), 0, unit="kvarh")]
    results = await asyncio.gather(store.save_batch(clash), store.save_batch(fresh))
    assert [(r.new, len(r.conflicts)) for r in results] == [(0, 1), (1, 0)]
    assert await stored_units(database) == {("m1", IMPORT, "Wh"), ("m2", EXPORT, "kvarh")}


async def test_two_units_in_the_period_are_refused(store: Store) -> None:
    # stored in two batches: the register is listed in both units, so it is checked row by row
    await store.save_batch([reading("m1", IMPORT, Decimal(1000), 0)])
    await store.save_batch([reading("m1", IMPORT, Decimal(2), 60 * 24 * 2, unit="kWh")])
    await store.save_batch([reading("m2", IMPORT, Decimal(3), 0)])
    with pytest.raises(UnitMismatch, match=r"meter m1 register 1\.0\.1\.8\.0\.255: .*'kWh'"):
        await store.register_columns(["m1", "m2"], [IMPORT], T0, T0 + 3 * DAY)
    # the same refusal for plain reads (no capture time), which are read by their own query
    await store.save_batch([reading("p1", EXPORT, Decimal(1), None, received=10)])
    await store.save_batch([reading("p1", EXPORT, Decimal(2), None, received=20, unit="kWh")])
    with pytest.raises(UnitMismatch, match=r"meter p1 register 1\.0\.2\.8\.0\.255"):
        await store.register_columns(["p1"], [EXPORT], T0, T0 + DAY)


async def test_a_unit_change_outside_the_period_is_not_refused(store: Store) -> None:
    # Wh for three days, then kWh from the fourth: each period in one unit reads in that unit
    await store.save_batch([reading("m1", IMPORT, Decimal(d * 1000), 60 * 24 * d) for d in (0, 1)])
    await store.save_batch(
        [reading("m1", IMPORT, Decimal(d), 60 * 24 * d, unit="kWh") for d in (3, 4)]
    )
    await store.save_batch([reading("m2", IMPORT, Decimal(7), 0)])
    columns = await store.register_columns(["m1", "m2"], [IMPORT], T0, T0 + 2 * DAY)
    got = {c.meter_id: c for c in columns}
    assert (got["m1"].unit, got["m1"].values) == ("Wh", [Decimal(0), Decimal(1000)])
    assert (got["m2"].unit, got["m2"].values) == ("Wh", [Decimal(7)])
    [later] = await store.register_columns(
        ["m1"], [IMPORT], T0 + 3 * DAY, T0 + 5 * DAY, scale={"Wh": -3}
    )
    assert (later.unit, later.values, later.scaled_by) == ("kWh", [Decimal(3), Decimal(4)], 0)


async def test_a_register_without_unit_reads_as_none(store: Store) -> None:
    await store.save_batch([unitless(reading("m1", IMPORT, Decimal(i), 15 * i)) for i in range(3)])
    [column] = await store.register_columns(["m1"], [IMPORT], T0, T0 + DAY)
    assert column.unit is None and column.values == [Decimal(0), Decimal(1), Decimal(2)]
