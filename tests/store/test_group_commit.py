"""Group commit: batches saved at once share transactions, and each caller still gets what a
transaction of its own would have given it (new rows, conflicts, its own error)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from drivers.contract import Reading
from headend.store import Store
from headend.store.group_commit import WriteQueue

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def day(meter: str, value: int = 0, rows: int = 96) -> list[Reading]:
    return [
        Reading(
            meter_id=meter,
            obis="1.0.1.8.0.255",
            value=Decimal(value + i),
            unit="Wh",
            capture_time=T0 + timedelta(minutes=15 * i),
            receive_time=T0 + timedelta(days=1),
        )
        for i in range(rows)
    ]


async def test_batches_saved_at_once_count_as_if_saved_alone(store: Store) -> None:
    await store.save_batch(day("m-003", rows=10))  # stored before: repeats, not new
    await store.save_batch(day("m-004", value=1000, rows=5))  # stored with other values
    batches = [day(f"m-{n:03}") for n in range(40)]
    results = await asyncio.gather(*(store.save_batch(batch) for batch in batches))
    assert [r.new for r in results] == [86 if n == 3 else 91 if n == 4 else 96 for n in range(40)]
    assert [len(r.conflicts) for r in results] == [5 if n == 4 else 0 for n in range(40)]
    assert {c.meter_id for c in results[4].conflicts} == {"m-004"}
    assert await store.count_readings() == 40 * 96
    # the same batches again, all at once: nothing new, m-004's conflicts reported again
    again = await asyncio.gather(*(store.save_batch(batch) for batch in batches))
    assert [r.new for r in again] == [0] * 40
    assert [r.conflicts for r in again] == [r.conflicts for r in results]


async def test_the_same_key_twice_in_one_group_is_one_row_and_one_conflict(store: Store) -> None:
    first, second, third = await asyncio.gather(
        store.save_batch(day("m", rows=3)),
        store.save_batch(day("m", rows=3)),
        store.save_batch(day("m", value=7, rows=1)),
    )
    assert (first.new, second.new, third.new) == (3, 0, 0)
    assert (first.conflicts, second.conflicts) == ([], [])
    assert [c.new_value for c in third.conflicts] == ["7"]


async def test_contacts_recorded_at_once_end_in_the_last_state(store: Store) -> None:
    await asyncio.gather(
        *(
            store.record_contact(f"m-{n % 5}", at=T0 + timedelta(seconds=n), ok=n % 2 == 0)
            for n in range(50)
        )
    )
    contacts = await store.last_contacts()
    assert [c.meter_id for c in contacts] == [f"m-{n}" for n in range(5)]
    for contact in contacts:
        last = 45 + int(contact.meter_id[-1])
        assert contact.at == T0 + timedelta(seconds=last)
        assert contact.ok == (last % 2 == 0)


async def test_a_failing_item_fails_alone() -> None:
    groups: list[list[int]] = []

    async def write_many(items: list[int]) -> list[str]:
        groups.append(items)
        await asyncio.sleep(0)
        if 13 in items:
            raise ValueError("unlucky")
        return [f"wrote {item}" for item in items]

    queue: WriteQueue[int, str] = WriteQueue(write_many)
    results = await asyncio.gather(*(queue.submit(n) for n in range(20)), return_exceptions=True)
    assert [str(r) for r in results] == ["unlucky" if n == 13 else f"wrote {n}" for n in range(20)]
    assert isinstance(results[13], ValueError)
    # all submitted before the writer ran: one group, which failed, then each item alone
    assert groups == [list(range(20))] + [[n] for n in range(20)]
    # after that, items are grouped again
    groups.clear()
    assert list(await asyncio.gather(queue.submit(1), queue.submit(2))) == ["wrote 1", "wrote 2"]
    assert groups == [[1, 2]]


async def test_a_cancelled_caller_leaves_its_write_to_complete(store: Store) -> None:
    blocker = asyncio.ensure_future(store.save_batch(day("a")))
    late = asyncio.ensure_future(store.save_batch(day("b")))
    await asyncio.sleep(0)
    late.cancel()
    with pytest.raises(asyncio.CancelledError):
        await late
    await blocker
    for _ in range(100):  # the cancelled caller's batch is written all the same
        if await store.count_readings("b") == 96:
            break
        await asyncio.sleep(0.01)
    assert await store.count_readings("b") == 96
