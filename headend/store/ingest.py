"""Batch ingest of readings into SQLite: idempotent, with conflicts kept instead of dropped.

The fast path is one `INSERT OR IGNORE` executemany: a batch of new readings costs nothing more.
Only when the row count shows that some rows were ignored are the batch's keys looked up (one
query per chunk, on the primary key) to tell a repeat of a stored value (not new, not a conflict)
from a different value for the same key (a conflict: the stored value stays, the new one goes to
`reading_conflicts` and is returned). The caller runs this inside one write transaction.

The units the stored rows carry go to `register_units` in the same transaction: the batch's
distinct (meter, register, unit), one `INSERT OR IGNORE` each (a few per meter, not per row). A
row kept as a conflict is not a reading: only the units of rows in `readings` are added.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from headend.store.base import ReadingConflict
from headend.store.rows import CAPTURE, KIND, METER, OBIS, READING_COLUMNS, RECEIVED, UNIT, VALUE

_INSERT_READING = f"INSERT OR IGNORE INTO readings ({READING_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"

_KEEP_CONFLICT = """
INSERT INTO reading_conflicts
    (meter_id, obis, capture_time, stored_value, new_value, unit, receive_time, first_seen,
     last_seen)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (meter_id, obis, capture_time, new_value) DO UPDATE SET last_seen = excluded.last_seen
"""

_KEEP_UNIT = "INSERT OR IGNORE INTO register_units (meter_id, obis, unit) VALUES (?, ?, ?)"

CONFLICT_COLUMNS = "meter_id, obis, capture_time, stored_value, new_value, unit, receive_time"

# keys per lookup query: 3 parameters each, well under SQLite's 32766-parameter limit
_LOOKUP_CHUNK = 2000

Key = tuple[str, str, str]


async def insert_rows(
    db: aiosqlite.Connection, rows: Sequence[tuple[Any, ...]], now: str
) -> tuple[int, list[ReadingConflict]]:
    """Insert reading rows; returns (rows new to the store, conflicts). Inside a transaction."""
    # rowcount, not total_changes: the latter also counts the outbox rows the trigger inserts
    new = (await db.executemany(_INSERT_READING, rows)).rowcount
    if new == len(rows):
        await _keep_units(db, rows)
        return new, []
    stored = await _stored_values(db, rows)
    # what is stored under the batch's keys (its new rows, and rows stored before, whose units are
    # there already), never an ignored row's unit
    await db.executemany(
        _KEEP_UNIT, {(m, o, unit or "") for (m, o, _), (*_, unit) in stored.items()}
    )
    kept: list[tuple[Any, ...]] = []
    seen: set[tuple[Key, str]] = set()
    for row in rows:
        key: Key = (row[METER], row[OBIS], row[CAPTURE])
        kind, value, _ = stored[key]
        if (kind, value) == (row[KIND], row[VALUE]) or (key, row[VALUE]) in seen:
            continue
        seen.add((key, row[VALUE]))
        kept.append((*key, value, row[VALUE], row[UNIT], row[RECEIVED], now, now))
    if kept:
        await db.executemany(_KEEP_CONFLICT, kept)
    return new, [conflict_from_row(row) for row in kept]


async def insert_groups(
    db: aiosqlite.Connection, groups: Sequence[Sequence[tuple[Any, ...]]], now: str
) -> list[tuple[int, list[ReadingConflict]]]:
    """`insert_rows` for several batches in one transaction, one result per batch. All rows go
    in one executemany; if any was already stored, that is undone (to a savepoint) and each
    batch is inserted on its own, which counts its new rows and finds its conflicts."""
    if len(groups) == 1:
        return [await insert_rows(db, groups[0], now)]
    rows = [row for group in groups for row in group]
    await db.execute("SAVEPOINT grouped_readings")
    if (await db.executemany(_INSERT_READING, rows)).rowcount == len(rows):
        await db.execute("RELEASE grouped_readings")
        await _keep_units(db, rows)
        return [(len(group), []) for group in groups]
    await db.execute("ROLLBACK TO grouped_readings")
    await db.execute("RELEASE grouped_readings")
    return [await insert_rows(db, group, now) for group in groups]


async def _keep_units(db: aiosqlite.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    """The distinct (meter, register, unit) of rows all stored by this transaction."""
    await db.executemany(_KEEP_UNIT, {(row[METER], row[OBIS], row[UNIT] or "") for row in rows})


async def _stored_values(
    db: aiosqlite.Connection, rows: Sequence[tuple[Any, ...]]
) -> dict[Key, tuple[str, str, str | None]]:
    """(value type, value, unit) stored under each of the rows' keys."""
    keys = list(dict.fromkeys((row[METER], row[OBIS], row[CAPTURE]) for row in rows))
    found: dict[Key, tuple[str, str, str | None]] = {}
    for start in range(0, len(keys), _LOOKUP_CHUNK):
        chunk = keys[start : start + _LOOKUP_CHUNK]
        values = ",".join("(?,?,?)" for _ in chunk)
        # CROSS JOIN keeps the keys as the outer loop: one primary-key search per key. (A row-value
        # `IN (VALUES ...)` is planned as a scan of the whole table.)
        query = (
            "SELECT r.meter_id, r.obis, r.capture_time, r.value_type, r.value, r.unit "
            f"FROM (VALUES {values}) AS k CROSS JOIN readings AS r "
            "ON r.meter_id = k.column1 AND r.obis = k.column2 AND r.capture_time = k.column3"
        )
        params = [part for key in chunk for part in key]
        async with db.execute(query, params) as cursor:
            for meter_id, obis, capture, kind, value, unit in await cursor.fetchall():
                found[(meter_id, obis, capture)] = (kind, value, unit)
    return found


def conflict_from_row(row: Sequence[Any]) -> ReadingConflict:
    """A conflict from a row in `CONFLICT_COLUMNS` order."""
    return ReadingConflict(
        meter_id=row[0],
        obis=row[1],
        capture_time=datetime.fromisoformat(row[2]),
        stored_value=row[3],
        new_value=row[4],
        unit=row[5],
        receive_time=datetime.fromisoformat(row[6]),
    )
