"""Commands, their audit log, load cycles and the latest value per meter in SQLite.

A command's state change and its audit row are written by one call inside one transaction, so
the audit log never misses a change nor records one that was rolled back. A final state is never
overwritten: a late writer (a second process, a retry that raced) gets the stored record back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from drivers.contract import Reading
from headend.commands.model import FINAL_STATES, AuditEntry, CommandRecord, CommandState
from headend.load.metrics import LoadCycle
from headend.store.command_rows import (
    AUDIT_COLUMNS,
    COMMAND_COLUMNS,
    COMMAND_FIELDS,
    CYCLE_COLUMNS,
    CYCLE_FIELDS,
    audit_values,
    command_values,
    cycle_values,
    row_audit,
    row_command,
    row_cycle,
)
from headend.store.rows import READING_COLUMNS, row_reading, utc_text

_FINAL = ", ".join(f"'{state.value}'" for state in sorted(FINAL_STATES))
_MARKS = ",".join("?" * len(COMMAND_FIELDS))
_INSERT = f"INSERT OR IGNORE INTO commands ({COMMAND_COLUMNS}) VALUES ({_MARKS})"
_UPDATE = f"""
INSERT INTO commands ({COMMAND_COLUMNS}) VALUES ({_MARKS})
ON CONFLICT (id) DO UPDATE SET
    expires_at = excluded.expires_at, state = excluded.state, attempts = excluded.attempts,
    detail = excluded.detail, updated_at = excluded.updated_at
WHERE commands.state NOT IN ({_FINAL})
"""
_AUDIT = (
    "INSERT INTO command_audit (at, command_id, meter, action, actor, state, detail) "
    "VALUES (?,?,?,?,?,?,?)"
)
_SAVE_CYCLE = f"""
INSERT INTO load_cycles ({CYCLE_COLUMNS}) VALUES ({",".join("?" * len(CYCLE_FIELDS))})
ON CONFLICT (feeder, at) DO UPDATE SET
    {", ".join(f"{field} = excluded.{field}" for field in CYCLE_FIELDS[2:])}
"""


def _command(row: Sequence[Any]) -> CommandRecord:
    return row_command(row, datetime.fromisoformat)


async def select_command(db: aiosqlite.Connection, command_id: str) -> CommandRecord | None:
    query = f"SELECT {COMMAND_COLUMNS} FROM commands WHERE id = ?"
    async with db.execute(query, (command_id,)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else _command(row)


async def save_command(
    db: aiosqlite.Connection, record: CommandRecord, *, new: bool
) -> CommandRecord:
    """Write the record and its audit row (inside a transaction); returns what is stored: the
    record, or the one already there (`new` and the id is known, or its state was final)."""
    values = command_values(record, utc_text)
    cursor = await db.execute(_INSERT if new else _UPDATE, values)
    if cursor.rowcount != 1:
        stored = await select_command(db, record.id)
        assert stored is not None
        return stored
    await db.execute(_AUDIT, audit_values(record, utc_text))
    return record


async def select_commands(
    db: aiosqlite.Connection,
    *,
    meter: str | None,
    parent: str | None,
    states: Sequence[CommandState] | None,
    limit: int | None,
) -> list[CommandRecord]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("meter", meter), ("parent", parent)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if states is not None:
        clauses.append("state IN (SELECT value FROM json_each(?))")
        params.append(json.dumps([state.value for state in states]))
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    query = f"SELECT {COMMAND_COLUMNS} FROM commands {where} ORDER BY created_at, id LIMIT ?"
    params.append(-1 if limit is None else limit)
    async with db.execute(query, params) as cursor:
        return [_command(row) for row in await cursor.fetchall()]


async def select_audit(
    db: aiosqlite.Connection, *, meter: str | None, command_id: str | None, limit: int | None
) -> list[AuditEntry]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("meter", meter), ("command_id", command_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    # the newest `limit` entries, oldest first
    query = (
        f"SELECT * FROM (SELECT {AUDIT_COLUMNS} FROM command_audit {where} "
        "ORDER BY seq DESC LIMIT ?) ORDER BY seq"
    )
    params.append(-1 if limit is None else limit)
    async with db.execute(query, params) as cursor:
        return [row_audit(row, datetime.fromisoformat) for row in await cursor.fetchall()]


async def upsert_cycles(db: aiosqlite.Connection, cycles: Sequence[LoadCycle]) -> None:
    await db.executemany(_SAVE_CYCLE, [cycle_values(cycle, utc_text) for cycle in cycles])


async def select_cycles(
    db: aiosqlite.Connection, *, feeder: str | None, since: datetime | None
) -> list[LoadCycle]:
    clauses: list[str] = []
    params: list[Any] = []
    if feeder is not None:
        clauses.append("feeder = ?")
        params.append(feeder)
    if since is not None:
        clauses.append("at >= ?")
        params.append(utc_text(since))
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    query = f"SELECT {CYCLE_COLUMNS} FROM load_cycles {where} ORDER BY at, feeder"
    async with db.execute(query, params) as cursor:
        return [row_cycle(row, datetime.fromisoformat) for row in await cursor.fetchall()]


async def select_latest(
    db: aiosqlite.Connection,
    obis: str,
    meter_ids: Sequence[str] | None,
    since: datetime | None,
) -> dict[str, Reading]:
    clauses = ["obis = ?"]
    params: list[Any] = [obis]
    if meter_ids is not None:
        clauses.append("meter_id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(meter_ids)))
    if since is not None:
        clauses.append("capture_time >= ?")
        params.append(utc_text(since))
    # SQLite takes the bare columns of an aggregate query from the row that holds the MAX()
    query = (
        f"SELECT {READING_COLUMNS}, MAX(capture_time) FROM readings "
        f"WHERE {' AND '.join(clauses)} GROUP BY meter_id"
    )
    async with db.execute(query, params) as cursor:
        rows = await cursor.fetchall()
    return {row[0]: row_reading(row) for row in rows}
