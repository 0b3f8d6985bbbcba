"""Readings that conflict with stored ones are kept and reported; repeats are not new."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from drivers.contract import Reading
from headend.store import ReadingConflict, Store

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=1)


def reading(value: str, capture: datetime | None = T0, **kw: Any) -> Reading:
    base: dict[str, Any] = {
        "meter_id": "m1",
        "obis": "1.0.1.8.0.255",
        "value": Decimal(value),
        "unit": "Wh",
        "capture_time": capture,
        "receive_time": T0 + timedelta(minutes=5),
    }
    base.update(kw)
    return Reading(**base)


async def test_a_different_value_for_a_stored_key_is_kept_as_a_conflict(store: Store) -> None:
    first = await store.save_batch([reading("100.5"), reading("7", T0 + timedelta(minutes=15))])
    assert (first.new, first.conflicts) == (2, [])
    repeat = await store.save_batch([reading("100.5")])
    assert (repeat.new, repeat.conflicts) == (0, [])  # a re-read of the same value

    result = await store.save_batch(
        [reading("1005", receive_time=LATER), reading("1", T0 + timedelta(minutes=30))]
    )
    assert result.new == 1
    conflict = ReadingConflict(
        meter_id="m1",
        obis="1.0.1.8.0.255",
        capture_time=T0,
        stored_value="100.5",
        new_value="1005",
        unit="Wh",
        receive_time=LATER,
    )
    assert result.conflicts == [conflict]
    # the stored value stays; the conflicting one is kept beside it
    [stored] = await store.readings(obis="1.0.1.8.0.255", until=T0)
    assert stored.value == Decimal("100.5")
    assert await store.conflicts() == [conflict]
    assert await store.conflicts(meter_id="m1") == [conflict]
    assert await store.conflicts(meter_id="m2") == []

    # seen again later: reported again (with its own receive time), stored once
    again = await store.save_batch([reading("1005", receive_time=LATER + timedelta(days=1))])
    assert again.conflicts == [
        conflict.model_copy(update={"receive_time": LATER + timedelta(days=1)})
    ]
    assert await store.conflicts() == [conflict]
    assert await store.save_readings([reading("100.5")]) == 0


async def test_conflicts_inside_one_batch_and_for_registers_without_capture_time(
    store: Store,
) -> None:
    power = "1.0.1.7.0.255"
    batch = [
        reading("1"),
        reading("2"),  # same key in the same batch: the first is stored, this one conflicts
        reading("2"),  # reported once
        reading("512", None, obis=power, unit="W"),  # keyed on its receive time
    ]
    result = await store.save_batch(batch)
    assert result.new == 2
    assert [(c.stored_value, c.new_value) for c in result.conflicts] == [("1", "2")]
    clash = await store.save_batch([reading("600", None, obis=power, unit="W")])
    assert [(c.obis, c.capture_time, c.new_value) for c in clash.conflicts] == [
        (power, T0 + timedelta(minutes=5), "600")
    ]


async def test_a_large_mixed_batch_reports_exactly_its_conflicts(store: Store) -> None:
    slots = [T0 + timedelta(minutes=15 * i) for i in range(3000)]
    stored = [reading(str(i), t) for i, t in enumerate(slots)]
    assert await store.save_readings(stored) == 3000
    # 3000 repeats, of which every 100th has another value, plus 500 new: more keys than one
    # lookup query takes
    mixed = [reading(str(i + (i % 100 == 0)), t) for i, t in enumerate(slots)]
    mixed += [reading("9", T0 - timedelta(minutes=15 * (i + 1))) for i in range(500)]
    result = await store.save_batch(mixed)
    assert result.new == 500
    assert sorted(c.capture_time for c in result.conflicts) == slots[::100]
    assert all(int(c.new_value) == int(c.stored_value) + 1 for c in result.conflicts)
    assert await store.count_readings() == 3500
