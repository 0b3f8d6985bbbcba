"""Schema migrations by version: an old file is brought up to date, a newer one is refused."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from drivers.contract import Reading
from headend.store import SqliteStore, StoreError
from headend.store.schema import SCHEMA_VERSION

# the DDL of the head-end before migrations existed, verbatim: such files carry user_version 1
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    meter_id      TEXT NOT NULL,
    obis          TEXT NOT NULL,
    capture_time  TEXT NOT NULL,
    capture_known INTEGER NOT NULL,
    value_type    TEXT NOT NULL,
    value         TEXT NOT NULL,
    unit          TEXT,
    receive_time  TEXT NOT NULL,
    quality       TEXT NOT NULL,
    PRIMARY KEY (meter_id, obis, capture_time)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_by_time ON readings (capture_time);
CREATE TABLE IF NOT EXISTS counters (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meter_contact (
    meter_id   TEXT PRIMARY KEY,
    at         TEXT NOT NULL,
    ok         INTEGER NOT NULL,
    error      TEXT,
    last_ok_at TEXT
);
PRAGMA user_version=1;
"""

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


async def test_a_version_1_file_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
        db.execute(
            "INSERT INTO readings VALUES (?, ?, ?, 1, 'decimal', '1234.5', 'Wh', ?, 'ok')",
            ("m1", "1.0.1.8.0.255", T0.isoformat(timespec="microseconds"), T0.isoformat()),
        )
        db.execute("INSERT INTO counters VALUES ('dlms:m1', 512)")
    assert user_version(path) == 1

    async with await SqliteStore.open(path) as store:
        [kept] = await store.readings()
        assert (kept.meter_id, kept.value, kept.capture_time) == ("m1", Decimal("1234.5"), T0)
        assert await store.reserve_counters("dlms:m1", 256) == 512
        # the new table works: a conflicting value for the old reading is kept
        clash = Reading(
            meter_id="m1",
            obis="1.0.1.8.0.255",
            value=Decimal("99"),
            unit="Wh",
            capture_time=T0,
            receive_time=T0,
        )
        assert len((await store.save_batch([clash])).conflicts) == 1
    assert user_version(path) == SCHEMA_VERSION == 6

    # opening again applies nothing and loses nothing
    async with await SqliteStore.open(path) as store:
        assert await store.count_readings() == 1
        assert len(await store.conflicts()) == 1


async def test_a_file_from_a_newer_head_end_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    await (await SqliteStore.open(path)).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 7")
    with pytest.raises(StoreError) as info:
        await SqliteStore.open(path)
    assert str(info.value) == (
        f"database {path}: schema version 7 is newer than this head-end knows "
        f"({SCHEMA_VERSION}): upgrade the head-end"
    )
    assert user_version(path) == 7  # untouched


async def test_connections_opening_a_new_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    stores = await asyncio.gather(*(SqliteStore.open(path) for _ in range(4)))
    for store in stores:
        await store.close()
    assert user_version(path) == SCHEMA_VERSION
