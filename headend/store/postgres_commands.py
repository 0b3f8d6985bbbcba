"""Commands, their audit log, load cycles and the latest value per meter in PostgreSQL, with the
semantics of SQLite's `commands.py`: a state change and its audit row in one transaction (the
caller's), a final state never overwritten."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

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
from headend.store.postgres_ingest import aware
from headend.store.records import stored_as_is
from headend.store.rows import READING_COLUMNS, row_reading

_FINAL = ", ".join(f"'{state.value}'" for state in sorted(FINAL_STATES))
_VALUES = ", ".join(
    f"${n}::jsonb" if field == "params" else f"${n}"
    for n, field in enumerate(COMMAND_FIELDS, start=1)
)
_INSERT = f"""
INSERT INTO commands ({COMMAND_COLUMNS}) VALUES ({_VALUES})
ON CONFLICT (id) DO NOTHING RETURNING id
"""
_UPDATE = f"""
INSERT INTO commands ({COMMAND_COLUMNS}) VALUES ({_VALUES})
ON CONFLICT (id) DO UPDATE SET
    expires_at = EXCLUDED.expires_at, state = EXCLUDED.state, attempts = EXCLUDED.attempts,
    detail = EXCLUDED.detail, updated_at = EXCLUDED.updated_at
WHERE commands.state NOT IN ({_FINAL})
RETURNING id
"""
_AUDIT = (
    "INSERT INTO command_audit (at, command_id, meter, action, actor, state, detail) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
_SAVE_CYCLE = f"""
INSERT INTO load_cycles ({CYCLE_COLUMNS})
VALUES ({", ".join(f"${n}" for n in range(1, len(CYCLE_FIELDS) + 1))})
ON CONFLICT (feeder, at) DO UPDATE SET
    {", ".join(f"{field} = EXCLUDED.{field}" for field in CYCLE_FIELDS[2:])}
"""


def _command(row: Sequence[Any]) -> CommandRecord:
    return row_command(row, stored_as_is)


async def select_command(conn: asyncpg.Connection, command_id: str) -> CommandRecord | None:
    row = await conn.fetchrow(f"SELECT {COMMAND_COLUMNS} FROM commands WHERE id = $1", command_id)
    return None if row is None else _command(row)


async def save_command(
    conn: asyncpg.Connection, record: CommandRecord, *, new: bool
) -> CommandRecord:
    """Write the record and its audit row (inside a transaction); returns what is stored."""
    written = await conn.fetchval(_INSERT if new else _UPDATE, *command_values(record, aware))
    if written is None:
        # the row lock taken by the conflict makes this the committed, current row
        stored = await select_command(conn, record.id)
        assert stored is not None
        return stored
    await conn.execute(_AUDIT, *audit_values(record, aware))
    return record


def _where(pairs: Sequence[tuple[str, Any]], params: list[Any]) -> str:
    clauses: list[str] = []
    for clause, value in pairs:
        if value is not None:
            params.append(value)
            clauses.append(clause.format(len(params)))
    return f"WHERE {' AND '.join(clauses)}" if clauses else ""


async def select_commands(
    conn: asyncpg.Connection,
    *,
    meter: str | None,
    parent: str | None,
    states: Sequence[CommandState] | None,
    limit: int | None,
) -> list[CommandRecord]:
    params: list[Any] = []
    where = _where(
        (
            ("meter = ${}", meter),
            ("parent = ${}", parent),
            ("state = ANY(${}::text[])", None if states is None else [s.value for s in states]),
        ),
        params,
    )
    params.append(limit)
    query = (
        f"SELECT {COMMAND_COLUMNS} FROM commands {where} ORDER BY created_at, id "
        f"LIMIT ${len(params)}"
    )
    return [_command(row) for row in await conn.fetch(query, *params)]


async def select_audit(
    conn: asyncpg.Connection, *, meter: str | None, command_id: str | None, limit: int | None
) -> list[AuditEntry]:
    params: list[Any] = []
    where = _where((("meter = ${}", meter), ("command_id = ${}", command_id)), params)
    params.append(limit)
    query = (
        f"SELECT * FROM (SELECT {AUDIT_COLUMNS} FROM command_audit {where} "
        f"ORDER BY seq DESC LIMIT ${len(params)}) AS newest ORDER BY seq"
    )
    return [row_audit(row, stored_as_is) for row in await conn.fetch(query, *params)]


async def upsert_cycles(conn: asyncpg.Connection, cycles: Sequence[LoadCycle]) -> None:
    await conn.executemany(_SAVE_CYCLE, [cycle_values(cycle, aware) for cycle in cycles])


async def select_cycles(
    conn: asyncpg.Connection, *, feeder: str | None, since: datetime | None
) -> list[LoadCycle]:
    params: list[Any] = []
    where = _where(
        (("feeder = ${}", feeder), ("at >= ${}", None if since is None else aware(since))), params
    )
    query = f"SELECT {CYCLE_COLUMNS} FROM load_cycles {where} ORDER BY at, feeder"
    return [row_cycle(row, stored_as_is) for row in await conn.fetch(query, *params)]


async def select_latest(
    conn: asyncpg.Connection,
    obis: str,
    meter_ids: Sequence[str] | None,
    since: datetime | None,
) -> dict[str, Reading]:
    params: list[Any] = [obis]
    where = _where(
        (
            ("meter_id = ANY(${}::text[])", None if meter_ids is None else list(meter_ids)),
            ("capture_time >= ${}", None if since is None else aware(since)),
        ),
        params,
    )
    where = f"{where} AND obis = $1" if where else "WHERE obis = $1"
    query = (
        f"SELECT DISTINCT ON (meter_id) {READING_COLUMNS} FROM readings {where} "
        "ORDER BY meter_id, capture_time DESC"
    )
    rows = await conn.fetch(query, *params)
    return {row[0]: row_reading(row, stored_as_is) for row in rows}
