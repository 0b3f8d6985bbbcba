"""Billing's bulk read of register values, on both stores: only decimal values, of the meters and
registers asked, inside the bounds, in order; a value without a meter time at its receive time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from drivers.contract import Quality, Reading
from headend.store import Store

T0 = datetime(2026, 10, 1, tzinfo=UTC)
IMPORT = "1.0.1.8.0.255"
EXPORT = "1.0.2.8.0.255"


def reading(meter: str, obis: str, value: object, minutes: int | None, **kw: object) -> Reading:
    at = None if minutes is None else T0 + timedelta(minutes=minutes)
    return Reading(
        meter_id=meter,
        obis=obis,
        value=value,  # type: ignore[arg-type]
        unit="Wh",
        capture_time=at,
        receive_time=T0 + timedelta(days=3),
        **kw,  # type: ignore[arg-type]
    )


async def test_register_values_selects_and_orders(store: Store) -> None:
    batch = [
        reading("m2", IMPORT, Decimal("200.5"), 15),
        reading("m1", IMPORT, Decimal("100.25"), 15, quality=Quality.ESTIMATED),
        reading("m1", IMPORT, Decimal("100.000"), 0),
        reading("m1", EXPORT, Decimal("3"), 0),
        reading("m1", IMPORT, Decimal("999"), 60 * 24 * 40),  # outside the bounds
        reading("m1", IMPORT, Decimal("5"), None),  # no capture time: at its receive time
        reading("m1", "0.0.96.1.0.255", "serial", 0),  # not decimal
        reading("m3", IMPORT, Decimal("7"), 0),  # a meter not asked for
    ]
    await store.save_batch(batch)
    rows = await store.register_values(["m1", "m2"], [IMPORT, EXPORT], T0, T0 + timedelta(days=31))
    fields = [(r.meter_id, r.obis, r.capture_time, r.value, r.quality, r.captured) for r in rows]
    assert fields == [
        ("m1", IMPORT, T0, Decimal("100.000"), "ok", True),
        ("m1", IMPORT, T0 + timedelta(minutes=15), Decimal("100.25"), "estimated", True),
        ("m1", IMPORT, T0 + timedelta(days=3), Decimal("5"), "ok", False),
        ("m1", EXPORT, T0, Decimal("3"), "ok", True),
        ("m2", IMPORT, T0 + timedelta(minutes=15), Decimal("200.5"), "ok", True),
    ]
    assert all(r.unit == "Wh" and r.capture_time.utcoffset() == timedelta(0) for r in rows)
    # the exact decimal text survives (no float anywhere)
    assert str(rows[0].value) == "100.000"


async def test_register_values_in_batches_of_meters(store: Store) -> None:
    meters = [f"m{i:04d}" for i in range(1203)]  # more than one query's worth
    await store.save_batch([reading(m, IMPORT, Decimal(i), 0) for i, m in enumerate(meters)])
    rows = await store.register_values(meters, [IMPORT], T0, T0)
    assert [r.meter_id for r in rows] == meters
    assert [r.value for r in rows] == [Decimal(i) for i in range(1203)]
