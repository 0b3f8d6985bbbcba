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

# The time SQLite stamps on an outbox entry, in `rows.utc_text`'s form (SQLite's clock has
# milliseconds; the last three digits are zeros) so that created_at orders as text like every time.
_NOW = "strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')"

# 3: events, run statistics, the last capture read per meter and profile, and the outbox. An
# outbox entry references its row (a reading by its key, an event by its key, a run by its id)
# instead of copying it. Readings and events get theirs from AFTER INSERT triggers, so an entry is
# written in the transaction that stores the row and only for a row new to the store: an INSERT OR
# IGNORE that ignores a row fires nothing, and a rollback (to a savepoint, too) takes the entry
# with it. AUTOINCREMENT: a pruned seq is never handed out again, so a sink's cursor stays valid.
V3_EVENTS_RUNS_MARKS_OUTBOX: tuple[str, ...] = (
    """
    CREATE TABLE events (
        key         TEXT PRIMARY KEY,  -- Event.key
        origin      TEXT NOT NULL,
        meter_id    TEXT,
        channel_id  TEXT,
        code        INTEGER NOT NULL,
        name        TEXT NOT NULL,
        text        TEXT NOT NULL,
        time        TEXT NOT NULL,
        received_at TEXT NOT NULL,
        source      TEXT NOT NULL,
        cause       TEXT
    ) WITHOUT ROWID
    """,
    "CREATE INDEX events_by_time ON events (time)",
    "CREATE INDEX events_by_meter ON events (meter_id, time)",
    """
    CREATE TABLE runs (
        run_id          TEXT PRIMARY KEY,
        plan            TEXT NOT NULL,
        trigger         TEXT NOT NULL,
        scheduled_for   TEXT,
        started_at      TEXT NOT NULL,
        duration_s      REAL NOT NULL,
        attempted       INTEGER NOT NULL,
        ok              INTEGER NOT NULL,
        partial         INTEGER NOT NULL,
        failed          INTEGER NOT NULL,
        failed_by_cause TEXT NOT NULL,  -- JSON object: cause -> meters
        rereads         INTEGER NOT NULL,
        readings        INTEGER NOT NULL,
        stored          INTEGER NOT NULL
    ) WITHOUT ROWID
    """,
    "CREATE INDEX runs_by_plan ON runs (plan, started_at)",
    """
    CREATE TABLE profile_marks (
        profile      TEXT NOT NULL,
        meter_id     TEXT NOT NULL,
        last_capture TEXT NOT NULL,
        PRIMARY KEY (profile, meter_id)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE outbox (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        kind         TEXT NOT NULL,  -- reading | event | run
        created_at   TEXT NOT NULL,
        meter_id     TEXT,           -- a reading's key: meter_id, obis, capture_time
        obis         TEXT,
        capture_time TEXT,
        ref          TEXT            -- an event's key, a run's id
    )
    """,
    """
    CREATE TABLE outbox_cursors (
        sink TEXT PRIMARY KEY,
        seq  INTEGER NOT NULL  -- the last entry the sink delivered
    )
    """,
    f"""
    CREATE TRIGGER readings_to_outbox AFTER INSERT ON readings BEGIN
        INSERT INTO outbox (kind, created_at, meter_id, obis, capture_time)
        VALUES ('reading', {_NOW}, NEW.meter_id, NEW.obis, NEW.capture_time);
    END
    """,
    f"""
    CREATE TRIGGER events_to_outbox AFTER INSERT ON events BEGIN
        INSERT INTO outbox (kind, created_at, ref) VALUES ('event', {_NOW}, NEW.key);
    END
    """,
    # an upsert that updates an existing run_id fires no INSERT trigger: one entry per run
    f"""
    CREATE TRIGGER runs_to_outbox AFTER INSERT ON runs BEGIN
        INSERT INTO outbox (kind, created_at, ref) VALUES ('run', {_NOW}, NEW.run_id);
    END
    """,
)

# 4: commands (one row each, its current state), their audit log (one row per state change,
# written in the transaction that changes the state) and the load manager's control cycles.
V4_COMMANDS_AUDIT_LOAD_CYCLES: tuple[str, ...] = (
    """
    CREATE TABLE commands (
        id         TEXT PRIMARY KEY,
        parent     TEXT,            -- a group command's id, for its per-meter children
        meter      TEXT,            -- None for a group command
        group_id   TEXT,
        action     TEXT NOT NULL,
        params     TEXT NOT NULL,   -- JSON object: limit_w (exact text), lease_s, tariff
        reason     TEXT NOT NULL,
        requester  TEXT NOT NULL,
        priority   INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        state      TEXT NOT NULL,
        attempts   INTEGER NOT NULL,
        detail     TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    "CREATE INDEX commands_by_state ON commands (state, created_at)",
    "CREATE INDEX commands_by_meter ON commands (meter, created_at)",
    "CREATE INDEX commands_by_parent ON commands (parent)",
    """
    CREATE TABLE command_audit (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        at         TEXT NOT NULL,
        command_id TEXT NOT NULL,
        meter      TEXT,
        action     TEXT NOT NULL,
        actor      TEXT NOT NULL,
        state      TEXT NOT NULL,
        detail     TEXT NOT NULL
    )
    """,
    "CREATE INDEX command_audit_by_command ON command_audit (command_id, seq)",
    "CREATE INDEX command_audit_by_meter ON command_audit (meter, seq)",
    """
    CREATE TABLE load_cycles (
        feeder         TEXT NOT NULL,
        at             TEXT NOT NULL,
        load_kw        REAL,
        capacity_kw    REAL NOT NULL,
        forecast_kw    REAL NOT NULL,
        limit_kw_total REAL NOT NULL,
        overloaded     INTEGER NOT NULL,
        overload_s     REAL NOT NULL,
        served_kwh     REAL NOT NULL,
        demanded_kwh   REAL NOT NULL,
        fairness       REAL,
        limited        INTEGER NOT NULL,
        disconnected   INTEGER NOT NULL,
        limit_changes  INTEGER NOT NULL,
        infeasible     INTEGER NOT NULL,
        report         TEXT NOT NULL,
        PRIMARY KEY (feeder, at)
    ) WITHOUT ROWID
    """,
)

# 5: demand-response events given at run time, every version (id, version) kept: the latest
# per id is in force, the older ones are its history. Who asked and what changed is also a
# head-end event (code 1030) written in the same transaction.
V5_DEMAND_RESPONSE: tuple[str, ...] = (
    """
    CREATE TABLE demand_response (
        id           TEXT NOT NULL,
        version      INTEGER NOT NULL,
        feeder       TEXT,            -- the target: a feeder, or
        households   TEXT,            -- a group (JSON array of meter ids)
        start_at     TEXT NOT NULL,
        end_at       TEXT NOT NULL,
        reduction_kw REAL NOT NULL,
        spread_us    INTEGER NOT NULL,
        cancelled    INTEGER NOT NULL,
        requester    TEXT NOT NULL,
        reason       TEXT NOT NULL,
        stored_at    TEXT NOT NULL,
        PRIMARY KEY (id, version)
    ) WITHOUT ROWID
    """,
)

# 6: every unit each (meter, register) was ever stored in ('' for none), kept by the ingest in
# the transaction that stores the readings: billing's bulk read takes the unit of a register
# stored in one unit from here instead of checking it row by row (`register_columns`).
V6_REGISTER_UNITS: tuple[str, ...] = (
    """
    CREATE TABLE register_units (
        meter_id TEXT NOT NULL,
        obis     TEXT NOT NULL,
        unit     TEXT NOT NULL,  -- '' for a reading without unit
        PRIMARY KEY (meter_id, obis, unit)
    ) WITHOUT ROWID
    """,
    """
    INSERT INTO register_units (meter_id, obis, unit)
    SELECT DISTINCT meter_id, obis, coalesce(unit, '') FROM readings
    """,
)

MIGRATIONS: tuple[Sequence[str], ...] = (
    V1_READINGS_COUNTERS_CONTACT,
    V2_READING_CONFLICTS,
    V3_EVENTS_RUNS_MARKS_OUTBOX,
    V4_COMMANDS_AUDIT_LOAD_CYCLES,
    V5_DEMAND_RESPONSE,
    V6_REGISTER_UNITS,
)
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
