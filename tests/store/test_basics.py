"""Every store (SQLite and PostgreSQL, through `open_store`): idempotent readings that keep their
types, queries by time, counters that never move backwards, last contact. Moved here from
tests/headend/test_store.py so that they run on both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from drivers.contract import Reading
from headend.store import Store, open_store

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def reading(obis: str = "1.0.1.8.0.255", value: str = "1234.5", **kw: Any) -> Reading:
    base: dict[str, Any] = {
        "meter_id": "m1",
        "obis": obis,
        "value": Decimal(value),
        "unit": "Wh",
        "receive_time": T0,
    }
    base.update(kw)
    return Reading(**base)


async def test_readings_are_idempotent_on_meter_obis_capture_time(store: Store) -> None:
    first = [
        reading(capture_time=T0),
        reading(capture_time=T0 + timedelta(minutes=15), value="1240.0"),
        reading("1.0.1.7.0.255", "512", unit="W"),  # no capture time: keyed on receive time
    ]
    assert await store.save_readings(first) == 3
    assert await store.save_readings(first) == 0
    # same key, different value: the stored value stays (a conflict, see test_conflicts.py)
    assert await store.save_readings([reading(capture_time=T0, value="9")]) == 0
    later = reading("1.0.1.7.0.255", "600", unit="W", receive_time=T0 + timedelta(minutes=1))
    assert await store.save_readings([later]) == 1
    assert await store.count_readings() == 4
    assert await store.count_readings("m1") == 4
    assert await store.count_readings("other") == 0


async def test_readings_round_trip_with_types(database: str) -> None:
    clock = reading("0.0.1.0.0.255", unit=None, value="0").model_copy(
        update={"value": T0 - timedelta(seconds=3)}
    )
    energy = reading(capture_time=T0, value="1000000.125")
    store = await open_store(database)
    try:
        await store.save_readings([clock, energy])
    finally:
        await store.close()
    store = await open_store(database)  # reopened: really stored
    try:
        got = await store.readings(meter_id="m1")
    finally:
        await store.close()
    by_obis = {r.obis: r for r in got}
    assert by_obis["1.0.1.8.0.255"] == energy
    assert by_obis["1.0.1.8.0.255"].value == Decimal("1000000.125")
    assert by_obis["0.0.1.0.0.255"].value == T0 - timedelta(seconds=3)
    assert by_obis["0.0.1.0.0.255"].capture_time is None


async def test_readings_query_by_time(store: Store) -> None:
    rows = [reading(capture_time=T0 + timedelta(minutes=15 * i), value=str(i)) for i in range(8)]
    await store.save_readings(rows)
    window = await store.readings(
        obis="1.0.1.8.0.255", since=T0 + timedelta(minutes=30), until=T0 + timedelta(hours=1)
    )
    assert [r.value for r in window] == [Decimal(2), Decimal(3), Decimal(4)]


async def test_counter_never_moves_backwards(database: str) -> None:
    store = await open_store(database)
    try:
        assert await store.load_counter("dlms:m1") is None
        await store.save_counter("dlms:m1", 100)
        await store.save_counter("dlms:m1", 50)
        assert await store.load_counter("dlms:m1") == 100
        # concurrent writers: the largest value wins whatever the order
        await asyncio.gather(*(store.save_counter("dlms:m1", v) for v in (300, 120, 299, 101)))
        assert await store.load_counter("dlms:m1") == 300
        await store.save_counter("dlms:m2", 7)
        assert await store.load_counter("dlms:m2") == 7
    finally:
        await store.close()
    store = await open_store(database)
    try:
        assert await store.load_counter("dlms:m1") == 300
    finally:
        await store.close()


async def test_last_contact_keeps_last_success(store: Store) -> None:
    assert await store.last_contact("m1") is None
    await store.record_contact("m1", at=T0, ok=True)
    await store.record_contact("m1", at=T0 + timedelta(hours=1), ok=False, error="timeout")
    await store.record_contact("m2", at=T0, ok=False, error="channel down")
    m1 = await store.last_contact("m1")
    assert m1 is not None
    assert (m1.ok, m1.error, m1.at, m1.last_ok_at) == (
        False,
        "timeout",
        T0 + timedelta(hours=1),
        T0,
    )
    m2 = await store.last_contact("m2")
    assert m2 is not None and m2.last_ok_at is None and not m2.ok
    assert [c.meter_id for c in await store.last_contacts()] == ["m1", "m2"]
    await store.record_contact("m2", at=T0 + timedelta(hours=2), ok=True)
    m2 = await store.last_contact("m2")
    assert m2 is not None and m2.ok and m2.error is None
