"""The PostgreSQL schema as an ordered list of migrations, applied by the `schema_version` table.

Version N is `MIGRATIONS[N - 1]`. Opening a database takes a transaction-level advisory lock,
reads the version and applies every migration above it, all in one transaction: two head-ends
opening one database at once migrate it once (the second waits for the lock, then finds the work
done), and a failed step leaves the database at its old version. A database written by a newer
head-end is refused, as SQLite files are.

The tables mirror SQLite's (`schema.py`) with native types: times are `timestamptz`, a reading's
value stays `(value_type, value)` text so a conflict is decided exactly as SQLite decides it.
Identifiers are `COLLATE "C"` so they sort byte-wise, as in SQLite, whatever the database's locale.

Never edit a released migration: append a new one.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from headend.store.base import StoreError

# arbitrary constants, the same in every head-end: one key for migrations, one for the outbox
MIGRATION_LOCK = 0x6865_6164_656E_6431  # "headend1"
OUTBOX_LOCK = 0x6865_6164_656E_6432  # "headend2"

V1: tuple[str, ...] = (
    """
    CREATE TABLE readings (
        meter_id      text COLLATE "C" NOT NULL,
        obis          text COLLATE "C" NOT NULL,
        capture_time  timestamptz NOT NULL,  -- the meter's capture time, else the receive time
        capture_known boolean NOT NULL,      -- false: capture_time above is the receive time
        value_type    text NOT NULL,         -- decimal | datetime | text
        value         text COLLATE "C" NOT NULL,
        unit          text,
        receive_time  timestamptz NOT NULL,
        quality       text NOT NULL,
        PRIMARY KEY (meter_id, obis, capture_time)
    )
    """,
    "CREATE INDEX readings_by_time ON readings (capture_time)",
    """
    CREATE TABLE reading_conflicts (
        meter_id     text COLLATE "C" NOT NULL,
        obis         text COLLATE "C" NOT NULL,
        capture_time timestamptz NOT NULL,
        stored_value text COLLATE "C" NOT NULL,
        new_value    text COLLATE "C" NOT NULL,
        unit         text,
        receive_time timestamptz NOT NULL,  -- of the first reading that carried new_value
        first_seen   timestamptz NOT NULL,
        last_seen    timestamptz NOT NULL,
        PRIMARY KEY (meter_id, obis, capture_time, new_value)
    )
    """,
    "CREATE INDEX reading_conflicts_by_seen ON reading_conflicts (first_seen)",
    """
    CREATE TABLE counters (
        key   text COLLATE "C" PRIMARY KEY,
        value bigint NOT NULL CHECK (value >= 0)
    )
    """,
    """
    CREATE TABLE meter_contact (
        meter_id   text COLLATE "C" PRIMARY KEY,
        at         timestamptz NOT NULL,
        ok         boolean NOT NULL,
        error      text,
        last_ok_at timestamptz
    )
    """,
    """
    CREATE TABLE events (
        key         text COLLATE "C" PRIMARY KEY,  -- Event.key
        origin      text NOT NULL,
        meter_id    text COLLATE "C",
        channel_id  text COLLATE "C",
        code        integer NOT NULL,
        name        text NOT NULL,
        text        text NOT NULL,
        time        timestamptz NOT NULL,
        received_at timestamptz NOT NULL,
        source      text NOT NULL,
        cause       text
    )
    """,
    "CREATE INDEX events_by_time ON events (time)",
    "CREATE INDEX events_by_meter ON events (meter_id, time)",
    """
    CREATE TABLE runs (
        run_id          text COLLATE "C" PRIMARY KEY,
        plan            text COLLATE "C" NOT NULL,
        trigger         text NOT NULL,
        scheduled_for   timestamptz,
        started_at      timestamptz NOT NULL,
        duration_s      double precision NOT NULL,
        attempted       integer NOT NULL,
        ok              integer NOT NULL,
        partial         integer NOT NULL,
        failed          integer NOT NULL,
        failed_by_cause jsonb NOT NULL,
        rereads         integer NOT NULL,
        readings        integer NOT NULL,
        stored          integer NOT NULL
    )
    """,
    "CREATE INDEX runs_by_plan ON runs (plan, started_at)",
    """
    CREATE TABLE profile_marks (
        profile      text COLLATE "C" NOT NULL,
        meter_id     text COLLATE "C" NOT NULL,
        last_capture timestamptz NOT NULL,
        PRIMARY KEY (profile, meter_id)
    )
    """,
    # an entry references what it carries (a reading's key, an event's key, a run's id) rather
    # than copying it; seq is handed out under OUTBOX_LOCK, so seq order is commit order
    """
    CREATE TABLE outbox (
        seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind         text NOT NULL CHECK (kind IN ('reading', 'event', 'run')),
        created_at   timestamptz NOT NULL,
        meter_id     text COLLATE "C",
        obis         text COLLATE "C",
        capture_time timestamptz,
        event_key    text COLLATE "C",
        run_id       text COLLATE "C"
    )
    """,
    """
    CREATE TABLE outbox_cursors (
        sink text COLLATE "C" PRIMARY KEY,
        seq  bigint NOT NULL
    )
    """,
)

# 2 (SQLite's version 4): commands, their audit log and the load manager's control cycles
V2_COMMANDS_AUDIT_LOAD_CYCLES: tuple[str, ...] = (
    """
    CREATE TABLE commands (
        id         text COLLATE "C" PRIMARY KEY,
        parent     text COLLATE "C",
        meter      text COLLATE "C",
        group_id   text COLLATE "C",
        action     text NOT NULL,
        params     jsonb NOT NULL,
        reason     text NOT NULL,
        requester  text NOT NULL,
        priority   integer NOT NULL,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        state      text NOT NULL,
        attempts   integer NOT NULL,
        detail     text NOT NULL,
        updated_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX commands_by_state ON commands (state, created_at)",
    "CREATE INDEX commands_by_meter ON commands (meter, created_at)",
    "CREATE INDEX commands_by_parent ON commands (parent)",
    """
    CREATE TABLE command_audit (
        seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at         timestamptz NOT NULL,
        command_id text COLLATE "C" NOT NULL,
        meter      text COLLATE "C",
        action     text NOT NULL,
        actor      text NOT NULL,
        state      text NOT NULL,
        detail     text NOT NULL
    )
    """,
    "CREATE INDEX command_audit_by_command ON command_audit (command_id, seq)",
    "CREATE INDEX command_audit_by_meter ON command_audit (meter, seq)",
    """
    CREATE TABLE load_cycles (
        feeder         text COLLATE "C" NOT NULL,
        at             timestamptz NOT NULL,
        load_kw        double precision,
        capacity_kw    double precision NOT NULL,
        forecast_kw    double precision NOT NULL,
        limit_kw_total double precision NOT NULL,
        overloaded     boolean NOT NULL,
        overload_s     double precision NOT NULL,
        served_kwh     double precision NOT NULL,
        demanded_kwh   double precision NOT NULL,
        fairness       double precision,
        limited        integer NOT NULL,
        disconnected   integer NOT NULL,
        limit_changes  integer NOT NULL,
        infeasible     boolean NOT NULL,
        report         text NOT NULL,
        PRIMARY KEY (feeder, at)
    )
    """,
)

# 3 (SQLite's version 5): demand-response events given at run time, every version kept
V3_DEMAND_RESPONSE: tuple[str, ...] = (
    """
    CREATE TABLE demand_response (
        id           text COLLATE "C" NOT NULL,
        version      integer NOT NULL,
        feeder       text COLLATE "C",
        households   jsonb,
        start_at     timestamptz NOT NULL,
        end_at       timestamptz NOT NULL,
        reduction_kw double precision NOT NULL,
        spread_us    bigint NOT NULL,
        cancelled    boolean NOT NULL,
        requester    text NOT NULL,
        reason       text NOT NULL,
        stored_at    timestamptz NOT NULL,
        PRIMARY KEY (id, version)
    )
    """,
)

# 4 (SQLite's version 6): every unit each (meter, register) was ever stored in ('' for none),
# kept by the ingest's COPY statement; billing's bulk read takes a single unit from here
V4_REGISTER_UNITS: tuple[str, ...] = (
    """
    CREATE TABLE register_units (
        meter_id text COLLATE "C" NOT NULL,
        obis     text COLLATE "C" NOT NULL,
        unit     text COLLATE "C" NOT NULL,  -- '' for a reading without unit
        PRIMARY KEY (meter_id, obis, unit)
    )
    """,
    """
    INSERT INTO register_units (meter_id, obis, unit)
    SELECT DISTINCT meter_id, obis, coalesce(unit, '') FROM readings
    """,
)

MIGRATIONS: tuple[Sequence[str], ...] = (
    V1,
    V2_COMMANDS_AUDIT_LOAD_CYCLES,
    V3_DEMAND_RESPONSE,
    V4_REGISTER_UNITS,
)
SCHEMA_VERSION = len(MIGRATIONS)

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version  integer NOT NULL
)
"""


async def migrate(conn: asyncpg.Connection, database: str) -> int:
    """Bring the database open on `conn` to `SCHEMA_VERSION` in one locked transaction.

    Returns the version it had. Raises `StoreError` for a newer database; a failed step raises
    the driver's error (the caller names it) after the transaction rolled back.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(_VERSION_TABLE)
        found = await conn.fetchval("SELECT version FROM schema_version") or 0
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"database {database}: schema version {found} is newer than this head-end knows "
                f"({SCHEMA_VERSION}): upgrade the head-end"
            )
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version - 1]:
                await conn.execute(statement)
        if found < SCHEMA_VERSION:
            await conn.execute(
                "INSERT INTO schema_version (version) VALUES ($1) "
                "ON CONFLICT (only_row) DO UPDATE SET version = EXCLUDED.version",
                SCHEMA_VERSION,
            )
    return int(found)
