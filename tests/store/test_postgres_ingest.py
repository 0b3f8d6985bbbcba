"""PostgreSQL-specific ingest: a 10,000-reading COPY batch with repeats and conflicts, a batch that
fails halfway, outbox order across two head-ends writing at once, and the column types."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from drivers.contract import Reading
from headend.store import PostgresStore, StoreError
from tests.postgres_server import PostgresServer

T0 = datetime(2025, 3, 1, tzinfo=UTC)
QUARTER = timedelta(minutes=15)


def reading(meter_id: str, slot: int, value: int, received: int = 0) -> Reading:
    return Reading(
        meter_id=meter_id,
        obis="1.0.1.8.0.255",
        value=Decimal(value) / 10,
        unit="kWh",
        capture_time=T0 + slot * QUARTER,
        receive_time=T0 + timedelta(days=1 + received),
    )


@pytest.fixture
def url(postgres_server: PostgresServer, pg_database: str) -> str:
    return postgres_server.url(pg_database)


@pytest.fixture
async def store(url: str) -> AsyncIterator[PostgresStore]:
    async with await PostgresStore.open(url) as opened:
        yield opened


async def test_a_10000_reading_batch_with_repeats_and_conflicts(store: PostgresStore) -> None:
    # 100 meters x 100 slots stored first
    stored = [reading(f"m{m:03}", s, m * 1000 + s) for m in range(100) for s in range(100)]
    assert (await store.save_batch(stored)).new == 10_000

    # 10,000 again: 7,000 repeats of which every 100th (each meter's first slot) carries another
    # value, 3,000 new, and inside the batch one new key twice with two values
    batch = [
        reading(f"m{m:03}", s, m * 1000 + s + (s == 0), 1) for m in range(70) for s in range(100)
    ]
    batch += [reading(f"n{m:03}", s, s, 1) for m in range(30) for s in range(100)]
    batch[-1] = reading("n029", 98, 5, 1)  # n029 slot 98 twice: 98 (stored) then 5 (a conflict)
    result = await store.save_batch(batch)
    assert result.new == 2_999
    bumped = {(f"m{m:03}", T0) for m in range(70)}
    assert {(c.meter_id, c.capture_time) for c in result.conflicts} == bumped | {
        ("n029", T0 + 98 * QUARTER)
    }
    assert len(result.conflicts) == 71
    assert all(c.receive_time == T0 + timedelta(days=2) for c in result.conflicts)
    assert await store.count_readings() == 12_999
    assert len(await store.conflicts()) == 71
    [kept] = await store.readings(meter_id="n029", since=T0 + 98 * QUARTER, until=T0 + 98 * QUARTER)
    assert kept.value == Decimal("9.8")  # the first value of the batch was stored

    # every new reading got one outbox entry, in the order it was saved
    entries = await store.outbox_fetch("sink", 20_000)
    assert [e.reading for e in entries] == stored + batch[7_000:-1]
    assert [e.seq for e in entries] == sorted({e.seq for e in entries})

    # saved again: nothing new, nothing queued, the same conflicts reported
    again = await store.save_batch(batch)
    assert again.new == 0
    assert again.conflicts == result.conflicts
    assert len(await store.outbox_fetch("sink", 20_000)) == 12_999


async def test_a_batch_failing_halfway_is_rolled_back_whole(
    store: PostgresStore, url: str, postgres_server: PostgresServer, pg_database: str
) -> None:
    await store.save_readings([reading("kept", s, s) for s in range(3)])
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            """
            CREATE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'simulated I/O failure'; END $$;
            CREATE TRIGGER fail BEFORE INSERT ON readings
            FOR EACH ROW WHEN (NEW.meter_id = 'bad') EXECUTE FUNCTION fail();
            """
        )
    finally:
        await conn.close()
    batch = [reading("new", s, s) for s in range(5)] + [reading("bad", 0, 0)]
    batch += [reading("later", s, s) for s in range(5)]
    with pytest.raises(StoreError) as info:
        await store.save_readings(batch)
    assert str(info.value) == (
        f"saving 11 readings failed on database postgres@127.0.0.1:{postgres_server.port}/"
        f"{pg_database}: simulated I/O failure"
    )
    assert isinstance(info.value.__cause__, asyncpg.PostgresError)
    assert await store.count_readings() == 3
    assert len(await store.outbox_fetch("sink", 100)) == 3  # no entry of the failed batch
    # the store is still usable: the batch without the bad reading goes in
    assert await store.save_readings(batch[:5] + batch[6:]) == 10
    assert len(await store.outbox_fetch("sink", 100)) == 13


async def _lock_waiters(conn: asyncpg.Connection, at_least: int) -> None:
    """Wait (hang guard: 60 s) until `at_least` sessions of this database wait on a lock."""
    async with asyncio.timeout(60):
        while True:
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting >= at_least:
                return
            await asyncio.sleep(0.02)


async def test_outbox_entries_appear_in_commit_order_across_head_ends(url: str) -> None:
    # Head-end A takes its outbox seq first but commits last (held by a row lock the test owns);
    # head-end B saves meanwhile. A sink fetching in between must not see B's entry and move its
    # cursor past A's, or A's reading would never be delivered.
    gate = await asyncpg.connect(url)
    a = await PostgresStore.open(url)
    b = await PostgresStore.open(url)
    try:
        await gate.execute(
            """
            CREATE TABLE gate (id integer);
            INSERT INTO gate VALUES (1);
            CREATE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM 1 FROM gate FOR UPDATE; RETURN NULL; END $$;
            CREATE TRIGGER hold AFTER INSERT ON outbox
            FOR EACH ROW WHEN (NEW.meter_id = 'slow') EXECUTE FUNCTION hold();
            """
        )
        held = gate.transaction()
        await held.start()
        await gate.execute("SELECT 1 FROM gate FOR UPDATE")
        saving_a = asyncio.ensure_future(a.save_readings([reading("slow", 0, 1)]))
        await _lock_waiters(gate, 1)
        saving_b = asyncio.ensure_future(b.save_readings([reading("fast", 0, 1)]))
        # B either finished or waits for A's outbox lock
        waiting_b = asyncio.ensure_future(_lock_waiters(gate, 2))
        await asyncio.wait([saving_b, waiting_b], return_when=asyncio.FIRST_COMPLETED)
        delivered = await a.outbox_fetch("sink", 10)
        if delivered:
            await a.outbox_ack("sink", delivered[-1].seq)
        await held.rollback()  # releases A
        assert await saving_a == 1 and await saving_b == 1
        waiting_b.cancel()
        delivered += await a.outbox_fetch("sink", 10)
        assert [e.reading.meter_id for e in delivered if e.reading] == ["slow", "fast"]
    finally:
        await gate.close()
        await a.close()
        await b.close()


async def test_times_are_timestamptz_and_values_typed_text(url: str, store: PostgresStore) -> None:
    conn = await asyncpg.connect(url)
    try:
        types = dict(
            await conn.fetch(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'readings'"
            )
        )
    finally:
        await conn.close()
    assert types["capture_time"] == types["receive_time"] == "timestamp with time zone"
    assert types["value_type"] == types["value"] == "text"
    # a value that is a time, an exact decimal and a text come back as they went in
    clock = Reading(
        meter_id="m",
        obis="0.0.1.0.0.255",
        value=datetime(2025, 3, 1, 1, 2, 3, 456789, tzinfo=UTC),
        receive_time=T0,
    )
    status = clock.model_copy(update={"obis": "0.0.96.5.0.255", "value": "0x0001"})
    energy = clock.model_copy(update={"obis": "1.0.1.8.0.255", "value": Decimal("1E+3")})
    await store.save_readings([clock, status, energy])
    assert await store.readings(meter_id="m") == [clock, status, energy]  # by OBIS text
