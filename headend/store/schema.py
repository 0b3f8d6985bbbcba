"""The SQLite schema as an ordered list of migrations, applied by `PRAGMA user_version`.

Version N is `MIGRATIONS[N - 1]`. Opening a file applies, in order, every migration above the
file's `user_version`, each in its own `BEGIN IMMEDIATE` transaction together with the new
`user_version`, so a crash leaves the file at a whole version and two processes opening one file at
once apply each migration once. A file written by a newer head-end (a version this code does not
know) is refused: an older head-end must not write to a schema it does not understand.

Never edit a released migration: append a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import aiosqlite

from headend.store.base import StoreError

# 1: the schema as first released (readings, counters, meter_contact). Files written by head-ends
# before migrations existed carry user_version 1 and exactly these tables.
V1_READINGS_COUNTERS_CONTACT: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS readings (
        meter_id      TEXT NOT NULL,
        obis          TEXT NOT NULL,
        capture_time  TEXT NOT NULL,   -- the meter's capture time, else the receive time
        capture_known INTEGER NOT NULL, -- 0: capture_time above is the receive time
        value_type    TEXT NOT NULL,   -- decimal | datetime | text
        value         TEXT NOT NULL,
        unit          TEXT,
        receive_time  TEXT NOT NULL,
        quality       TEXT NOT NULL,
        PRIMARY KEY (meter_id, obis, capture_time)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS readings_by_time ON readings (capture_time)",
    """
    CREATE TABLE IF NOT EXISTS counters (
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS meter_contact (
        meter_id   TEXT PRIMARY KEY,
        at         TEXT NOT NULL,
        ok         INTEGER NOT NULL,
        error      TEXT,
        last_ok_at TEXT
    )
    """,
)

# 2: readings whose key is stored with another value are kept here, once per distinct new value
# (a meter that keeps reporting the same conflicting value updates last_seen, not a new row).
V2_READING_CONFLICTS: tuple[str, ...] = (
    """
    CREATE TABLE reading_conflicts (
        meter_id     TEXT NOT NULL,
        obis         TEXT NOT NULL,
        capture_time TEXT NOT NULL,
        stored_value TEXT NOT NULL,
        new_value    TEXT NOT NULL,
        unit         TEXT,
        receive_time TEXT NOT NULL,  -- of the first reading that carried new_value
        first_seen   TEXT NOT NULL,
        last_seen    TEXT NOT NULL,
        PRIMARY KEY (meter_id, obis, capture_time, new_value)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX reading_conflicts_by_seen ON reading_conflicts (first_seen)",
)

MIGRATIONS: tuple[Sequence[str], ...] = (V1_READINGS_COUNTERS_CONTACT, V2_READING_CONFLICTS)
SCHEMA_VERSION = len(MIGRATIONS)


async def schema_version(db: aiosqlite.Connection) -> int:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def migrate(db: aiosqlite.Connection, path: Path) -> int:
    """Bring the file at `path` (open on `db`, autocommit mode) to `SCHEMA_VERSION`.

    Returns the version the file had. Raises `StoreError` for a newer file or a failed step.
    """
    found = await schema_version(db)
    _refuse_newer(found, path)
    for version in range(found + 1, SCHEMA_VERSION + 1):
        try:
            await db.execute("BEGIN IMMEDIATE")
            # another process may have migrated while this one waited for the write lock
            current = await schema_version(db)
            _refuse_newer(current, path)
            if current < version:
                for statement in MIGRATIONS[version - 1]:
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version = {version}")
            await db.execute("COMMIT")
        except sqlite3.Error as err:
            if db.in_transaction:
                await db.execute("ROLLBACK")
            raise StoreError(
                f"migrating database {path} to schema version {version} failed: {err}"
            ) from err
    return found


def _refuse_newer(version: int, path: Path) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"database {path}: schema version {version} is newer than this head-end knows "
            f"({SCHEMA_VERSION}): upgrade the head-end"
        )
