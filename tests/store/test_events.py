"""Events are stored once per key, however often and from wherever they are saved, and listed
by time."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta, timezone
from pathlib import Path

from headend.events.model import Event, EventOrigin, HeadendEvent
from headend.store import Store, open_store
from tests.store import event_writer
from tests.store.samples import T0, drain, meter_event

ROOT = Path(__file__).resolve().parents[2]


async def test_the_same_event_saved_twice_is_stored_once(store: Store) -> None:
    power_down = meter_event("m1", 1, minute=5)
    power_up = meter_event("m1", 2, minute=9)
    assert await store.save_events([power_down]) == 1
    # read again from the log (received later: same key), with a new one and a repeat in-batch
    again = power_down.model_copy(update={"received_at": T0 + timedelta(days=1)})
    assert await store.save_events([again, power_up, power_up]) == 1
    assert await store.events() == [power_down, power_up]
    assert [entry.event for entry in await drain(store, "mqtt")] == [power_down, power_up]


async def test_two_stores_on_one_database_store_an_event_once(store: Store, database: str) -> None:
    other = await open_store(database)
    try:
        batch = [meter_event("m1", code, minute=code) for code in range(1, 30)]
        saved = await asyncio.gather(
            *(target.save_events([event]) for event in batch for target in (store, other))
        )
        assert sum(saved) == len(batch)
        assert await other.events() == batch
    finally:
        await other.close()
    assert len(await drain(store, "mqtt")) == len(batch)


async def test_two_processes_saving_the_same_events_store_each_once(
    store: Store, database: str
) -> None:
    count = 60
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.store.event_writer",
            database,
            str(count),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    async with asyncio.timeout(120):
        for proc in procs:
            assert proc.stdout is not None
            assert (await proc.stdout.readline()).strip() == b"ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        outputs = [await proc.communicate() for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    assert sum(int(out) for out, _ in outputs) == count
    expected = event_writer.events(count)
    assert await store.events() == sorted(expected, key=lambda e: (e.time, e.key))
    # whichever process stored an event first, it was stored before the next one: queued in order
    assert [entry.event for entry in await drain(store, "mqtt")] == expected


async def test_events_are_listed_by_time_meter_and_bounds(store: Store) -> None:
    collection_failed = Event(
        origin=EventOrigin.HEADEND,
        meter_id="m2",
        channel_id="gprs-1",
        code=HeadendEvent.COLLECTION_FAILED,
        name="collection_failed",
        text="no answer after 3 attempts",
        time=T0 + timedelta(minutes=20),
        received_at=T0 + timedelta(minutes=20),
        source="daily",
        cause="timeout",
    )
    channel_down = Event(
        origin=EventOrigin.HEADEND,
        meter_id=None,
        channel_id="dc-7",
        code=HeadendEvent.CHANNEL_DOWN,
        name="channel_down",
        text="concentrator dc-7 does not answer",
        time=T0 + timedelta(minutes=10),
        received_at=T0 + timedelta(minutes=10),
    )
    meter = [meter_event("m1", 1, minute=30), meter_event("m1", 2, minute=0)]
    await store.save_events([*meter, collection_failed, channel_down])

    assert await store.events() == [meter[1], channel_down, collection_failed, meter[0]]
    assert await store.events(meter_ids=["m2"]) == [collection_failed]
    assert await store.events(meter_ids=["m1", "m2"], limit=2) == [meter[1], collection_failed]
    assert await store.events(meter_ids=[]) == []
    # bounds are inclusive
    assert await store.events(
        since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=20)
    ) == [
        channel_down,
        collection_failed,
    ]
    assert await store.events(since=T0 + timedelta(minutes=31)) == []


async def test_an_event_reads_back_with_its_key(store: Store) -> None:
    # a meter clock's offset is not part of the event's identity: stored as UTC, same instant
    local = meter_event("m1", 4, minute=0).model_copy(
        update={"time": (T0 + timedelta(hours=2)).astimezone(timezone(timedelta(hours=2)))}
    )
    await store.save_events([local])
    [stored] = await store.events()
    assert stored.time == local.time
    assert await store.save_events([stored]) == 0
