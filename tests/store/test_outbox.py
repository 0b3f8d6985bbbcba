"""The outbox: an entry for every reading, event and run new to the store, none for a repeat;
each sink reads every entry once, in order, at its own pace; pruning keeps what a sink still
needs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from drivers.contract import Reading
from headend.store import Store
from headend.store.base import OutboxEntry
from tests.store.samples import T0, drain, meter_event, profile, readings_of, run_stats


def key(reading: Reading) -> tuple[str, str, datetime]:
    assert reading.capture_time is not None
    return (reading.meter_id, reading.obis, reading.capture_time)


async def test_only_readings_new_to_the_store_are_queued(store: Store) -> None:
    first = profile("m1", 0, 10)
    assert await store.save_readings(first) == 10
    assert readings_of(await drain(store, "mqtt")) == first

    # the same batch again: nothing new, nothing queued
    assert await store.save_readings(first) == 0
    assert await drain(store, "mqtt") == []

    # five stored (one of them with another value: a conflict) and five new: five entries
    mixed = profile("m1", 5, 10)
    mixed[0] = profile("m1", 5, 1, bump=1)[0]
    result = await store.save_batch(mixed)
    assert (result.new, len(result.conflicts)) == (5, 1)
    assert readings_of(await drain(store, "mqtt")) == profile("m1", 10, 5)


async def test_batches_written_together_queue_each_new_reading_once(store: Store) -> None:
    await store.save_readings(profile("m1", 0, 4))
    await drain(store, "influxdb")
    # saved at once, these go into one transaction; one batch repeats stored readings, so the
    # group is undone to a savepoint and written batch by batch: no entry may survive twice
    batches = [profile("m1", 2, 4), profile("m2", 0, 3), profile("m3", 0, 3), profile("m2", 1, 3)]
    results = await asyncio.gather(*(store.save_batch(batch) for batch in batches))
    assert sum(result.new for result in results) == 2 + 3 + 3 + 1
    queued = readings_of(await drain(store, "influxdb"))
    assert len(queued) == len({key(r) for r in queued}) == 9
    assert sorted(queued, key=key) == sorted(
        profile("m1", 4, 2) + profile("m2", 0, 3) + profile("m2", 1, 3)[-1:] + profile("m3", 0, 3),
        key=key,
    )


async def test_events_and_runs_are_queued_in_order_with_readings(store: Store) -> None:
    event = meter_event("m1", 1, minute=3)
    run = run_stats("run-1", "daily", T0)
    await store.save_readings(profile("m1", 0, 2))
    await store.save_events([event])
    await store.save_run(run)
    await store.save_readings(profile("m1", 2, 1))
    # repeats and a replaced run queue nothing more
    await store.save_events([event])
    await store.save_run(run.model_copy(update={"ok": 9, "failed": 1}))

    entries = await drain(store, "mqtt")
    assert [entry.kind for entry in entries] == ["reading", "reading", "event", "run", "reading"]
    assert [entry.seq for entry in entries] == sorted({entry.seq for entry in entries})
    assert entries[2].event == event and entries[2].reading is None and entries[2].run is None
    # the entry carries the run as stored now: the replacement
    assert entries[3].run is not None and entries[3].run.ok == 9
    # entries are built without validation: they must be what validation would build
    for entry in entries:
        rebuilt = OutboxEntry.model_validate(entry.model_dump())
        assert rebuilt == entry
        assert OutboxEntry.model_validate_json(entry.model_dump_json()) == entry


async def test_two_sinks_each_get_every_entry_once_in_order(store: Store) -> None:
    for meter in range(5):
        await store.save_readings(profile(f"m{meter}", 0, 8))
    fast: list[int] = []
    slow: list[int] = []
    # the sinks take turns at different paces; each has its own cursor
    while True:
        got_fast = await store.outbox_fetch("fast", 11)
        got_slow = await store.outbox_fetch("slow", 3)
        if not got_fast and not got_slow:
            break
        for sink, got, seen in (("fast", got_fast, fast), ("slow", got_slow, slow)):
            if got:
                seen.extend(entry.seq for entry in got)
                await store.outbox_ack(sink, got[-1].seq)
    assert fast == slow
    assert len(fast) == 40 and fast == sorted(set(fast))


async def test_an_unacknowledged_fetch_is_fetched_again(store: Store) -> None:
    await store.save_readings(profile("m1", 0, 5))
    first = await store.outbox_fetch("mqtt", 3)
    assert await store.outbox_fetch("mqtt", 3) == first  # the sink was down: nothing lost
    await store.outbox_ack("mqtt", first[-1].seq)
    await store.outbox_ack("mqtt", first[0].seq)  # a late, older ack does not move it back
    rest = await store.outbox_fetch("mqtt", 10)
    assert [e.seq for e in first + rest] == sorted({e.seq for e in first + rest})
    assert len(rest) == 2


async def test_prune_keeps_what_a_lagging_sink_still_needs(store: Store) -> None:
    await store.save_readings(profile("m1", 0, 10))
    everything = await store.outbox_fetch("probe", 100)
    await store.outbox_ack("ahead", everything[-1].seq)
    await store.outbox_ack("behind", everything[3].seq)

    # a sink that never acknowledged anything holds everything back
    assert await store.outbox_prune(["ahead", "behind", "new"]) == 0
    assert await store.outbox_prune(["ahead", "behind"]) == 4
    assert await store.outbox_fetch("behind", 100) == everything[4:]
    assert await store.outbox_fetch("ahead", 100) == []
    assert await store.outbox_prune(["ahead"]) == 6
    assert await store.outbox_fetch("behind", 100) == []

    # seq keeps growing after a prune: no cursor ever points past a new entry
    await store.save_readings(profile("m1", 10, 1))
    [later] = await store.outbox_fetch("behind", 100)
    assert later.seq > everything[-1].seq
    # nobody consumes the outbox: everything goes
    assert await store.outbox_prune([]) == 1
    assert await store.outbox_fetch("behind", 100) == []


async def test_status_shows_depth_and_the_oldest_undelivered_entry(store: Store) -> None:
    # SQLite's clock has milliseconds: compare from the millisecond before
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    await store.save_readings(profile("m1", 0, 3))
    await asyncio.sleep(0.01)
    await store.save_readings(profile("m1", 3, 2))
    after = datetime.now(UTC)
    entries = await store.outbox_fetch("x", 10)
    assert all(before <= entry.created_at <= after for entry in entries)

    await store.outbox_ack("mqtt", entries[2].seq)
    mqtt, influx = await store.outbox_status(["mqtt", "influxdb"])
    assert (mqtt.sink, mqtt.depth, mqtt.delivered_seq) == ("mqtt", 2, entries[2].seq)
    assert mqtt.oldest_at == entries[3].created_at
    assert (influx.sink, influx.depth, influx.delivered_seq) == ("influxdb", 5, 0)
    assert influx.oldest_at == entries[0].created_at

    await store.outbox_ack("mqtt", entries[-1].seq)
    [mqtt] = await store.outbox_status(["mqtt"])
    assert (mqtt.depth, mqtt.oldest_at, mqtt.delivered_seq) == (0, None, entries[-1].seq)


async def test_a_fetch_overlapping_a_status_query_never_returns_acknowledged_entries(
    store: Store,
) -> None:
    """Status queries run concurrently with a sink's fetch/ack cycles (as `headend status` and
    the forwarder do): every fetch starts after the last ack."""
    for step in range(60):
        await store.save_batch(profile("m1", step, 1) + profile("m2", step, 1))
    stop = asyncio.Event()

    async def status_loop() -> None:
        while not stop.is_set():
            await store.outbox_status(["s"])

    pollers = [asyncio.create_task(status_loop()) for _ in range(3)]
    acked = 0
    seen: list[int] = []
    try:
        while True:
            entries = await store.outbox_fetch("s", 7)
            if not entries:
                break
            assert entries[0].seq > acked, "a fetch returned entries already acknowledged"
            seen += [e.seq for e in entries]
            acked = entries[-1].seq
            await store.outbox_ack("s", acked)
    finally:
        stop.set()
        await asyncio.gather(*pollers)
    assert len(seen) == len(set(seen)) == 120
