"""Events in SQLite: saved once per `Event.key`, listed by time.

An event new to the store gets its outbox entry from the `events_to_outbox` trigger (schema v3),
so saving is one `INSERT OR IGNORE` and the row count says how many were new.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from headend.events.model import Event
from headend.store.records import EVENT_COLUMNS, event_values, row_event
from headend.store.rows import utc_text

_INSERT_EVENT = f"INSERT OR IGNORE INTO events ({EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"


def _row_event(row: Sequence[Any]) -> Event:
    return row_event(row, datetime.fromisoformat)


async def insert_events(db: aiosqlite.Connection, events: Sequence[Event]) -> int:
    """Insert the events not stored yet; returns how many were new. Inside a transaction."""
    # rowcount counts the events only, not the outbox rows their trigger adds
    return (
        await db.executemany(_INSERT_EVENT, [event_values(e, utc_text) for e in events])
    ).rowcount


async def select_events(
    db: aiosqlite.Connection,
    *,
    meter_ids: Sequence[str] | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
) -> list[Event]:
    clauses: list[str] = []
    params: list[Any] = []
    if meter_ids is not None:
        # one JSON parameter: any number of meters, no limit on bound parameters
        clauses.append("meter_id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(meter_ids)))
    if since is not None:
        clauses.append("time >= ?")
        params.append(utc_text(since))
    if until is not None:
        clauses.append("time <= ?")
        params.append(utc_text(until))
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    query = f"SELECT {EVENT_COLUMNS} FROM events {where} ORDER BY time, key LIMIT ?"
    params.append(-1 if limit is None else limit)
    async with db.execute(query, params) as cursor:
        return [_row_event(row) for row in await cursor.fetchall()]


async def events_by_key(db: aiosqlite.Connection, keys: Sequence[str]) -> dict[str, Event]:
    query = f"SELECT {EVENT_COLUMNS} FROM events WHERE key IN (SELECT value FROM json_each(?))"
    async with db.execute(query, (json.dumps(list(keys)),)) as cursor:
        return {row[0]: _row_event(row) for row in await cursor.fetchall()}
