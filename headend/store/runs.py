"""Run statistics in SQLite: one row per run (replaced by run_id), daily collection rates.

A run new to the store gets its outbox entry from the `runs_to_outbox` trigger (schema v3); the
upsert that replaces an existing run_id takes the UPDATE path, which fires no INSERT trigger, so
a run is queued for the sinks once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import aiosqlite

from headend.runs.model import DailyRate, RunStats
from headend.store.records import RUN_COLUMNS, RUN_FIELDS, row_run, run_values
from headend.store.rows import utc_text

_SAVE_RUN = f"""
INSERT INTO runs ({RUN_COLUMNS}) VALUES ({",".join("?" * len(RUN_FIELDS))})
ON CONFLICT (run_id) DO UPDATE SET
    {", ".join(f"{field} = excluded.{field}" for field in RUN_FIELDS[1:])}
"""

# started_at is rows.utc_text: its first ten characters are the UTC date
_DAILY_RATES = """
SELECT plan, substr(started_at, 1, 10) AS day, COUNT(*), SUM(attempted), SUM(ok + partial)
FROM runs {where} GROUP BY plan, day ORDER BY plan, day
"""


def _row_run(row: Sequence[Any]) -> RunStats:
    return row_run(row, datetime.fromisoformat)


async def upsert_run(db: aiosqlite.Connection, run: RunStats) -> None:
    """Insert or replace a run's statistics. Inside a transaction."""
    await db.execute(_SAVE_RUN, run_values(run, utc_text))


async def select_runs(
    db: aiosqlite.Connection, *, plan: str | None, limit: int | None
) -> list[RunStats]:
    where, params = ("WHERE plan = ?", [plan]) if plan is not None else ("", [])
    query = f"SELECT {RUN_COLUMNS} FROM runs {where} ORDER BY started_at DESC, run_id DESC LIMIT ?"
    async with db.execute(query, [*params, -1 if limit is None else limit]) as cursor:
        return [_row_run(row) for row in await cursor.fetchall()]


async def runs_by_id(db: aiosqlite.Connection, run_ids: Sequence[str]) -> dict[str, RunStats]:
    query = f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id IN (SELECT value FROM json_each(?))"
    async with db.execute(query, (json.dumps(list(run_ids)),)) as cursor:
        return {row[0]: _row_run(row) for row in await cursor.fetchall()}


async def select_daily_rates(db: aiosqlite.Connection, *, plan: str | None) -> list[DailyRate]:
    where, params = ("WHERE plan = ?", (plan,)) if plan is not None else ("", ())
    async with db.execute(_DAILY_RATES.format(where=where), params) as cursor:
        rows = await cursor.fetchall()
    return [
        DailyRate(
            plan=row[0],
            day=date.fromisoformat(row[1]),
            runs=row[2],
            attempted=row[3],
            collected=row[4],
        )
        for row in rows
    ]
