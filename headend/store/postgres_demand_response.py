"""Demand-response events in PostgreSQL, with the semantics of SQLite's `demand_response.py`.

Two writers of one event are ordered by a transaction-level advisory lock on the event's id
(two-key form, a key space apart from the store's single-key locks), so the version check and
the insert cannot interleave."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from headend.config.load import DemandResponseEvent
from headend.store.demand_response_rows import (
    DR_COLUMNS,
    DR_FIELDS,
    audit_event,
    dr_values,
    in_force,
    nudged,
    row_dr,
    stale,
)
from headend.store.postgres_ingest import aware
from headend.store.postgres_records import insert_events
from headend.store.records import stored_as_is

DR_LOCK_CLASS = 0x4452  # "DR"
_VALUES = ", ".join(
    f"${n}::jsonb" if field == "households" else f"${n}"
    for n, field in enumerate(DR_FIELDS, start=1)
)
_INSERT = f"INSERT INTO demand_response ({DR_COLUMNS}) VALUES ({_VALUES})"
_VERSION = f"SELECT {DR_COLUMNS} FROM demand_response WHERE id = $1 AND version = $2"
_LATEST_OF = f"SELECT {DR_COLUMNS} FROM demand_response WHERE id = $1 ORDER BY version DESC LIMIT 1"
_LATEST = f"""
SELECT {DR_COLUMNS} FROM demand_response AS d
WHERE version = (SELECT max(version) FROM demand_response WHERE id = d.id)
ORDER BY start_at, id
"""
_NUDGES = 1000


def _row(row: Sequence[Any]) -> DemandResponseEvent:
    return row_dr(row, stored_as_is)


async def save(
    conn: asyncpg.Connection,
    event: DemandResponseEvent,
    requester: str,
    reason: str,
    at: datetime,
) -> DemandResponseEvent:
    """Store one version and its audit event (inside a transaction); returns what is stored."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", DR_LOCK_CLASS, event.id)
    known = await conn.fetchrow(_VERSION, event.id, event.version)
    if known is not None:
        return _row(known)
    row = await conn.fetchrow(_LATEST_OF, event.id)
    latest = None if row is None else _row(row)
    if latest is not None and latest.version >= event.version:
        raise stale(event, latest)
    now = datetime.now(UTC)
    await conn.execute(_INSERT, *dr_values(event, requester, reason, now, aware))
    audit = audit_event(latest, event, requester, reason, at)
    for _ in range(_NUDGES):
        if await insert_events(conn, [audit]) == 1:
            break
        audit = nudged(audit)
    return event


async def select_latest(
    conn: asyncpg.Connection, active_at: datetime | None
) -> list[DemandResponseEvent]:
    events = [_row(row) for row in await conn.fetch(_LATEST)]
    if active_at is None:
        return events
    return [event for event in events if in_force(event, active_at)]
