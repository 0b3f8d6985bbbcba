"""SQLite only: a transaction that fails leaves no outbox entry behind, also when it failed
inside a group of batches written together (which are then written again one by one)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from headend.store import SqliteStore, StoreError
from tests.store.samples import drain, meter_event, profile, readings_of

# a fault planted in the file: any row of meter "bad" aborts the statement that inserts it
REFUSE_BAD = """
CREATE TRIGGER refuse_bad BEFORE INSERT ON readings WHEN NEW.meter_id = 'bad'
BEGIN SELECT RAISE(ABORT, 'refused by the test'); END
"""


@pytest.fixture
async def faulty(tmp_path: Path) -> SqliteStore:
    path = tmp_path / "faulty.sqlite3"
    await (await SqliteStore.open(path)).close()
    with sqlite3.connect(path) as db:
        db.execute(REFUSE_BAD)
        db.execute("""
            CREATE TRIGGER refuse_bad_event BEFORE INSERT ON events WHEN NEW.meter_id = 'bad'
            BEGIN SELECT RAISE(ABORT, 'refused by the test'); END
        """)
    return await SqliteStore.open(path)


async def test_a_failed_save_queues_nothing(faulty: SqliteStore) -> None:
    try:
        with pytest.raises(StoreError, match="saving 6 readings"):
            await faulty.save_readings(profile("good", 0, 5) + profile("bad", 0, 1))
        with pytest.raises(StoreError, match="saving 2 events"):
            await faulty.save_events([meter_event("good", 1, 0), meter_event("bad", 1, 0)])
        assert await faulty.outbox_fetch("mqtt", 100) == []
        [status] = await faulty.outbox_status(["mqtt"])
        assert (status.depth, status.oldest_at) == (0, None)

        # what did not fail is queued once, when it is stored
        assert await faulty.save_readings(profile("good", 0, 5)) == 5
        assert readings_of(await drain(faulty, "mqtt")) == profile("good", 0, 5)
    finally:
        await faulty.close()


async def test_a_failed_group_queues_only_the_batches_stored_on_retry(faulty: SqliteStore) -> None:
    try:
        batches = [profile("m1", 0, 3), profile("bad", 0, 2), profile("m2", 0, 3)]
        results = await asyncio.gather(
            *(faulty.save_batch(batch) for batch in batches), return_exceptions=True
        )
        assert isinstance(results[1], StoreError)
        queued = readings_of(await drain(faulty, "mqtt"))
        assert sorted(queued, key=lambda r: r.meter_id) == batches[0] + batches[2]
        assert await faulty.count_readings() == len(queued) == 6
    finally:
        await faulty.close()
