"""SQLite only: a version 2 file (before events, runs and the outbox) is brought to version 3
and keeps its readings, conflicts and counters; what was stored before is not queued for the
sinks (the outbox starts empty), what is stored after is."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from headend.store import SqliteStore
from headend.store.rows import reading_rows
from headend.store.schema import MIGRATIONS, SCHEMA_VERSION
from tests.store.samples import drain, meter_event, profile, readings_of


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def version_2_file(path: Path) -> None:
    with sqlite3.connect(path) as db:
        for statement in (*MIGRATIONS[0], *MIGRATIONS[1]):
            db.execute(statement)
        db.execute("PRAGMA user_version = 2")


async def test_a_version_2_file_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite3"
    version_2_file(path)
    old = profile("m1", 0, 4)
    # rows as the version 2 store laid them out
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO readings VALUES (?,?,?,?,?,?,?,?,?)", reading_rows(old))
        db.execute("INSERT INTO counters VALUES ('dlms:m1', 4096)")
    assert user_version(path) == 2

    async with await SqliteStore.open(path) as store:
        assert user_version(path) == SCHEMA_VERSION == 6
        assert await store.readings() == old
        assert await store.load_counter("dlms:m1") == 4096
        assert await store.outbox_fetch("mqtt", 100) == []

        clash = profile("m1", 0, 1, bump=1)
        result = await store.save_batch(clash + profile("m1", 4, 2))
        assert (result.new, len(result.conflicts)) == (2, 1)
        assert result.conflicts[0].new_value == str(Decimal(1) / 1000)
        await store.save_events([meter_event("m1", 1, 0)])
        entries = await drain(store, "mqtt")
        assert readings_of(entries) == profile("m1", 4, 2)
        assert [entry.kind for entry in entries] == ["reading", "reading", "event"]

    # opening again changes nothing
    async with await SqliteStore.open(path) as store:
        assert user_version(path) == SCHEMA_VERSION
        assert await store.count_readings() == 6
        assert len(await store.conflicts()) == 1
        assert await store.outbox_fetch("mqtt", 100) == []
        assert len(await store.outbox_fetch("influxdb", 100)) == 3
