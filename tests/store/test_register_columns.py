"""Billing's bulk read of register values, on both stores: one time-ordered column set per
(meter, register), exact decimals, qualities other than ok named, a register the meter never
stamped read at its receive times, a time-of-day filter for daily registers, mixed units
refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from drivers.contract import Quality, Reading
from headend.store import Store
from headend.store.register_columns import UnitMismatch
from headend.store.scaled_ints import ScaledInts

T0 = datetime(2026, 10, 1, tzinfo=UTC)
IMPORT = "1.0.1.8.0.255"
EXPORT = "1.0.2.8.0.255"


def reading(
    meter: str,
    obis: str,
    value: object,
    minutes: int | None,
    *,
    unit: str = "Wh",
    received: int = 60 * 24 * 3,
    quality: Quality = Quality.OK,
) -> Reading:
    at = None if minutes is None else T0 + timedelta(minutes=minutes)
    return Reading(
        meter_id=meter,
        obis=obis,
        value=value,  # type: ignore[arg-type]
        unit=unit,
        capture_time=at,
        receive_time=T0 + timedelta(minutes=received),
        quality=quality,
    )


async def test_columns_per_meter_and_register(store: Store) -> None:
    await store.save_batch(
        [
            reading("m2", IMPORT, Decimal("200.5"), 15),
            reading("m1", IMPORT, Decimal("100.25"), 15, quality=Quality.ESTIMATED),
            reading("m1", IMPORT, Decimal("100.000"), 0),
            reading("m1", IMPORT, Decimal("100.5"), 30),
            reading("m1", EXPORT, Decimal("3"), 0),
            reading("m1", IMPORT, Decimal("999"), 60 * 24 * 40),  # outside the bounds
            reading("m1", IMPORT, Decimal("5"), None),  # a plain read beside captures: left out
            reading("m1", "0.0.96.1.0.255", "serial", 0),  # not decimal
            reading("m3", IMPORT, Decimal("7"), 0),  # a meter not asked for
        ]
    )
    columns = await store.register_columns(
        ["m1", "m2"], [IMPORT, EXPORT], T0, T0 + timedelta(days=31)
    )
    got = {(c.meter_id, c.obis): c for c in columns}
    assert set(got) == {("m1", IMPORT), ("m1", EXPORT), ("m2", IMPORT)}
    m1 = got[("m1", IMPORT)]
    assert m1.times == [T0, T0 + timedelta(minutes=15), T0 + timedelta(minutes=30)]
    assert [str(v) for v in m1.values] == ["100.000", "100.25", "100.5"]  # exact text kept
    assert m1.flagged == {T0 + timedelta(minutes=15): "estimated"}
    assert m1.unit == "Wh" and m1.captured
    assert got[("m2", IMPORT)].values == [Decimal("200.5")]
    assert all(t.utcoffset() == timedelta(0) for c in columns for t in c.times)


async def test_plain_reads_where_the_meter_stamps_nothing(store: Store) -> None:
    # a Modbus meter: its energy register read every few minutes, keyed on the receive time
    await store.save_batch(
        [
            reading("mb", IMPORT, Decimal(v), None, received=r)
            for r, v in ((3, 10), (8, 11), (13, 12))
        ]
    )
    [column] = await store.register_columns(["mb"], [IMPORT], T0, T0 + timedelta(hours=1))
    assert not column.captured
    assert column.times == [T0 + timedelta(minutes=m) for m in (3, 8, 13)]
    assert column.values == [Decimal(10), Decimal(11), Decimal(12)]


async def test_instants_keep_daily_registers(store: Store) -> None:
    await store.save_batch([reading("m1", IMPORT, Decimal(i), 15 * i) for i in range(97 * 2)])
    [column] = await store.register_columns(
        ["m1"],
        [IMPORT],
        T0,
        T0 + timedelta(days=3),
        instants=[T0 + timedelta(days=d) for d in range(4)],
    )
    assert column.times == [T0, T0 + timedelta(days=1), T0 + timedelta(days=2)]
    assert column.values == [Decimal(0), Decimal(96), Decimal(192)]


async def test_many_meters_in_several_queries(store: Store) -> None:
    meters = [f"m{i:04d}" for i in range(1203)]
    await store.save_batch([reading(m, IMPORT, Decimal(i), 0) for i, m in enumerate(meters)])
    columns = await store.register_columns(meters, [IMPORT], T0, T0)
    assert sorted((c.meter_id, c.values[0]) for c in columns) == [
        (m, Decimal(i)) for i, m in enumerate(meters)
    ]


async def test_a_register_in_two_units_is_refused(store: Store) -> None:
    await store.save_batch(
        [reading("m1", IMPORT, Decimal(1000), 0), reading("m1", IMPORT, Decimal(2), 15, unit="kWh")]
    )
    with pytest.raises(UnitMismatch, match=r"meter m1 register 1\.0\.1\.8\.0\.255"):
        await store.register_columns(["m1"], [IMPORT], T0, T0 + timedelta(hours=1))


async def test_scale_converts_exactly_as_it_parses(store: Store) -> None:
    await store.save_batch(
        [
            reading("m1", IMPORT, Decimal("1049058"), 0),
            reading("m1", IMPORT, Decimal("1049058.5"), 15),
            reading("m2", IMPORT, Decimal("12.34"), 0, unit="kWh"),
        ]
    )
    columns = await store.register_columns(
        ["m1", "m2"], [IMPORT], T0, T0 + timedelta(hours=1), scale={"Wh": -3}
    )
    got = {c.meter_id: c for c in columns}
    # Wh -> kWh by moving the decimal point: no rounding, no float
    assert got["m1"].values == [Decimal("1049.058"), Decimal("1049.0585")]
    assert got["m1"].scaled_by == -3 and got["m1"].unit == "Wh"
    assert got["m2"].values == [Decimal("12.34")] and got["m2"].scaled_by == 0


async def test_whole_numbers_come_back_as_exact_scaled_ints(store: Store, database: str) -> None:
    wh = [1049058, 1049058, 1049100, 1149100 + 70000, 0, 5]  # steps inside and past the table
    await store.save_batch([reading("m1", IMPORT, Decimal(v), 15 * i) for i, v in enumerate(wh)])
    [column] = await store.register_columns(
        ["m1"], [IMPORT], T0, T0 + timedelta(hours=2), scale={"Wh": -3}
    )
    want = [Decimal(v).scaleb(-3) for v in wh]
    assert column.values == want
    assert [str(v) for v in column.values] == [str(v) for v in want]  # "1049.058", "0.000"
    assert column.scaled_by == -3
    if database.endswith(".sqlite3"):  # PostgreSQL still gives a list of Decimal
        assert isinstance(column.values, ScaledInts) and column.values.exponent == -3


async def test_one_fraction_among_whole_numbers_keeps_the_decimal_path(store: Store) -> None:
    texts = ["1000", "1001", "1001.5", "1003"]
    await store.save_batch([reading("m1", IMPORT, Decimal(t), 15 * i) for i, t in enumerate(texts)])
    [column] = await store.register_columns(
        ["m1"], [IMPORT], T0, T0 + timedelta(hours=1), scale={"Wh": -3}
    )
    assert not isinstance(column.values, ScaledInts)
    assert [str(v) for v in column.values] == ["1.000", "1.001", "1.0015", "1.003"]


@pytest.mark.parametrize("huge", [10**18, 10**18 + 1, 2**63, 10**25 + 3, -(10**18)])
async def test_values_too_large_for_int64_come_back_exact(store: Store, huge: int) -> None:
    await store.save_batch(
        [reading("m1", IMPORT, Decimal(5), 0), reading("m1", IMPORT, Decimal(huge), 15)]
    )
    [column] = await store.register_columns(
        ["m1"], [IMPORT], T0, T0 + timedelta(hours=1), scale={"Wh": -3}
    )
    assert not isinstance(column.values, ScaledInts)
    assert column.values == [Decimal("0.005"), Decimal(huge).scaleb(-3)]
    [plain] = await store.register_columns(["m1"], [IMPORT], T0, T0 + timedelta(hours=1))
    assert plain.values == [Decimal(5), Decimal(huge)]


async def test_negative_whole_numbers_come_back_exact(store: Store) -> None:
    wh = [-3, 0, -70000, 12, -(10**18 - 1)]
    await store.save_batch([reading("m1", EXPORT, Decimal(v), 15 * i) for i, v in enumerate(wh)])
    [scaled] = await store.register_columns(
        ["m1"], [EXPORT], T0, T0 + timedelta(hours=1), scale={"Wh": -3}
    )
    assert scaled.values == [Decimal(v).scaleb(-3) for v in wh]
    assert [str(v) for v in scaled.values] == [str(Decimal(v).scaleb(-3)) for v in wh]
    [plain] = await store.register_columns(["m1"], [EXPORT], T0, T0 + timedelta(hours=1))
    assert plain.values == [Decimal(v) for v in wh] and plain.scaled_by == 0
