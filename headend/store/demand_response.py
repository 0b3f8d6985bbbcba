"""Demand-response events in SQLite: every version kept (the table is their history), the
latest per id listed, and each stored version audited by a head-end event in its transaction.

The caller's IMMEDIATE transaction holds the write lock from the version check to the insert, so
two writers of one event cannot both store "the next" version."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiosqlite

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
from headend.store.events import insert_events
from headend.store.rows import utc_text

_INSERT = f"INSERT INTO demand_response ({DR_COLUMNS}) VALUES ({','.join('?' * len(DR_FIELDS))})"
_VERSION = f"SELECT {DR_COLUMNS} FROM demand_response WHERE id = ? AND version = ?"
_LATEST_OF = f"SELECT {DR_COLUMNS} FROM demand_response WHERE id = ? ORDER BY version DESC LIMIT 1"
_LATEST = f"""
SELECT {DR_COLUMNS} FROM demand_response AS d
WHERE version = (SELECT MAX(version) FROM demand_response WHERE id = d.id)
ORDER BY start_at, id
"""
# keys of audit events tried before giving up: far more changes than one microsecond can hold
_NUDGES = 1000


def _row(row: Sequence[Any]) -> DemandResponseEvent:
    return row_dr(row, datetime.fromisoformat)


async def _one(db: aiosqlite.Connection, query: str, params: Sequence[Any]) -> Any:
    async with db.execute(query, params) as cursor:
        return await cursor.fetchone()


async def save(
    db: aiosqlite.Connection,
    event: DemandResponseEvent,
    requester: str,
    reason: str,
    at: datetime,
) -> DemandResponseEvent:
    """Store one version and its audit event (inside a transaction); returns what is stored."""
    known = await _one(db, _VERSION, (event.id, event.version))
    if known is not None:
        return _row(known)
    row = await _one(db, _LATEST_OF, (event.id,))
    latest = None if row is None else _row(row)
    if latest is not None and latest.version >= event.version:
        raise stale(event, latest)
    now = datetime.now(UTC)
    await db.execute(_INSERT, dr_values(event, requester, reason, now, utc_text))
    audit = audit_event(latest, event, requester, reason, at)
    for _ in range(_NUDGES):
        if await insert_events(db, [audit]) == 1:
            break
        audit = nudged(audit)
    return event


async def select_latest(
    db: aiosqlite.Connection, active_at: datetime | None
) -> list[DemandResponseEvent]:
    async with db.execute(_LATEST) as cursor:
        events = [_row(row) for row in await cursor.fetchall()]
    if active_at is None:
        return events
    return [event for event in events if in_force(event, active_at)]
