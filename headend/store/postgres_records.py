"""Events, run statistics and profile marks in PostgreSQL: the SQL and the rows to models.

The semantics are those of the SQLite modules (`events.py`, `runs.py`, `profile_marks.py`): an
event is stored once per key, a run is replaced by run_id, a mark never moves backwards. Whatever
is new gets its outbox entry in the same statement that stores it, under the outbox lock (see
`postgres_ingest`), so seq order is commit order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from headend.events.model import Event
from headend.runs.model import DailyRate, RunStats
from headend.store.postgres_ingest import aware
from headend.store.postgres_schema import OUTBOX_LOCK
from headend.store.records import (
    EVENT_COLUMNS,
    RUN_COLUMNS,
    RUN_FIELDS,
    event_values,
    row_event,
    row_run,
    run_values,
    stored_as_is,
)

# the events of one call in order; a key twice in one call is stored (and queued) once
_SAVE_EVENTS = f"""
WITH given AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[],
                         $7::text[], $8::timestamptz[], $9::timestamptz[], $10::text[],
                         $11::text[])
        WITH ORDINALITY AS g({EVENT_COLUMNS}, ord)
), new AS (
    INSERT INTO events ({EVENT_COLUMNS})
    SELECT {EVENT_COLUMNS} FROM given ORDER BY ord
    ON CONFLICT (key) DO NOTHING
    RETURNING key
), queued AS (
    INSERT INTO outbox (kind, created_at, event_key)
    SELECT 'event', now(), new.key
    FROM new JOIN (SELECT key, min(ord) AS ord FROM given GROUP BY key) AS g ON g.key = new.key
    ORDER BY g.ord
)
SELECT count(*) FROM new
"""

_RUN_VALUES = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14"

_INSERT_RUN = f"""
WITH new AS (
    INSERT INTO runs ({RUN_COLUMNS}) VALUES ({_RUN_VALUES})
    ON CONFLICT (run_id) DO NOTHING
    RETURNING run_id
)
INSERT INTO outbox (kind, created_at, run_id) SELECT 'run', now(), run_id FROM new
RETURNING seq
"""
_REPLACE_RUN = f"""
UPDATE runs SET ({", ".join(RUN_FIELDS[1:])}) = ({_RUN_VALUES.split(", ", 1)[1]})
WHERE run_id = $1
"""

_DAILY_RATES = """
SELECT plan, (started_at AT TIME ZONE 'UTC')::date AS day, count(*), sum(attempted),
       sum(ok + partial)
FROM runs {where} GROUP BY plan, day ORDER BY plan, day
"""

_MARK = """
INSERT INTO profile_marks (profile, meter_id, last_capture)
SELECT $1, meter_id, last_capture
FROM unnest($2::text[], $3::timestamptz[]) AS m(meter_id, last_capture)
ON CONFLICT (profile, meter_id) DO UPDATE SET
    last_capture = GREATEST(profile_marks.last_capture, EXCLUDED.last_capture)
"""


def _row_event(row: Sequence[Any]) -> Event:
    return row_event(row, stored_as_is)


async def insert_events(conn: asyncpg.Connection, events: Sequence[Event]) -> int:
    """Insert the events not stored yet, queueing each new one; returns how many were new.
    Inside a transaction."""
    columns: list[list[Any]] = [[] for _ in range(11)]
    for event in events:
        values = event_values(event, aware)
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    await conn.execute("SELECT pg_advisory_xact_lock($1)", OUTBOX_LOCK)
    return int(await conn.fetchval(_SAVE_EVENTS, *columns))


async def select_events(
    conn: asyncpg.Connection,
    *,
    meter_ids: Sequence[str] | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
) -> list[Event]:
    clauses: list[str] = []
    params: list[Any] = []
    for clause, value in (
        ("meter_id = ANY(${}::text[])", None if meter_ids is None else list(meter_ids)),
        ("time >= ${}", None if since is None else aware(since)),
        ("time <= ${}", None if until is None else aware(until)),
    ):
        if value is not None:
            params.append(value)
            clauses.append(clause.format(len(params)))
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    params.append(limit)
    query = f"SELECT {EVENT_COLUMNS} FROM events {where} ORDER BY time, key LIMIT ${len(params)}"
    return [_row_event(row) for row in await conn.fetch(query, *params)]


async def events_by_key(conn: asyncpg.Connection, keys: Sequence[str]) -> dict[str, Event]:
    query = f"SELECT {EVENT_COLUMNS} FROM events WHERE key = ANY($1::text[])"
    return {row[0]: _row_event(row) for row in await conn.fetch(query, list(keys))}


def _row_run(row: Sequence[Any]) -> RunStats:
    return row_run(row, stored_as_is)


async def upsert_run(conn: asyncpg.Connection, run: RunStats) -> None:
    """Insert a run (queued for the sinks) or replace its statistics (not queued again). Inside
    a transaction."""
    values = run_values(run, aware)
    await conn.execute("SELECT pg_advisory_xact_lock($1)", OUTBOX_LOCK)
    if await conn.fetchval(_INSERT_RUN, *values) is None:
        await conn.execute(_REPLACE_RUN, *values)


async def select_runs(
    conn: asyncpg.Connection, *, plan: str | None, limit: int | None
) -> list[RunStats]:
    where, params = ("WHERE plan = $2", [plan]) if plan is not None else ("", [])
    query = f"SELECT {RUN_COLUMNS} FROM runs {where} ORDER BY started_at DESC, run_id DESC LIMIT $1"
    return [_row_run(row) for row in await conn.fetch(query, limit, *params)]


async def runs_by_id(conn: asyncpg.Connection, run_ids: Sequence[str]) -> dict[str, RunStats]:
    query = f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ANY($1::text[])"
    return {row[0]: _row_run(row) for row in await conn.fetch(query, list(run_ids))}


async def select_daily_rates(conn: asyncpg.Connection, *, plan: str | None) -> list[DailyRate]:
    where, params = ("WHERE plan = $1", (plan,)) if plan is not None else ("", ())
    rows = await conn.fetch(_DAILY_RATES.format(where=where), *params)
    return [
        DailyRate(plan=row[0], day=row[1], runs=row[2], attempted=row[3], collected=row[4])
        for row in rows
    ]


async def upsert_marks(conn: asyncpg.Connection, profile: str, marks: dict[str, datetime]) -> None:
    """Move each meter's mark forward to its new time (never back)."""
    await conn.execute(_MARK, profile, list(marks), [aware(when) for when in marks.values()])


async def select_marks(
    conn: asyncpg.Connection, profile: str, meter_ids: Sequence[str]
) -> dict[str, datetime]:
    query = (
        "SELECT meter_id, last_capture FROM profile_marks "
        "WHERE profile = $1 AND meter_id = ANY($2::text[])"
    )
    return {row[0]: row[1] for row in await conn.fetch(query, profile, list(meter_ids))}
