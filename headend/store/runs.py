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
from headend.store.rows import parse_time, utc_text

RUN_COLUMNS = (
    "run_id, plan, trigger, scheduled_for, started_at, duration_s, attempted, ok, partial, "
    "failed, failed_by_cause, rereads, readings, stored"
)
_FIELDS = [column.strip() for column in RUN_COLUMNS.split(",")]

_SAVE_RUN = f"""
INSERT INTO runs ({RUN_COLUMNS}) VALUES ({",".join("?" * len(_FIELDS))})
ON CONFLICT (run_id) DO UPDATE SET
    {", ".join(f"{field} = excluded.{field}" for field in _FIELDS[1:])}
"""

# started_at is rows.utc_text: its first ten characters are the UTC date
_DAILY_RATES = """
SELECT plan, substr(started_at, 1, 10) AS day, COUNT(*), SUM(attempted), SUM(ok + partial)
FROM runs {where} GROUP BY plan, day ORDER BY plan, day
"""


def run_row(run: RunStats) -> tuple[Any, ...]:
    return (
        run.run_id,
        run.plan,
        run.trigger,
        None if run.scheduled_for is None else utc_text(run.scheduled_for),
        utc_text(run.started_at),
        run.duration_s,
        run.attempted,
        run.ok,
        run.partial,
        run.failed,
        json.dumps(run.failed_by_cause, sort_keys=True),
        run.rereads,
        run.readings,
        run.stored,
    )


def row_run(row: Sequence[Any]) -> RunStats:
    """The run of a row selected with `RUN_COLUMNS`."""
    return RunStats(
        run_id=row[0],
        plan=row[1],
        trigger=row[2],
        scheduled_for=parse_time(row[3]),
        started_at=datetime.fromisoformat(row[4]),
        duration_s=row[5],
        attempted=row[6],
        ok=row[7],
        partial=row[8],
        failed=row[9],
        failed_by_cause=json.loads(row[10]),
        rereads=row[11],
        readings=row[12],
        stored=row[13],
    )


async def upsert_run(db: aiosqlite.Connection, run: RunStats) -> None:
    """Insert or replace a run's statistics. Inside a transaction."""
    await db.execute(_SAVE_RUN, run_row(run))


async def select_runs(
    db: aiosqlite.Connection, *, plan: str | None, limit: int | None
) -> list[RunStats]:
    where, params = ("WHERE plan = ?", [plan]) if plan is not None else ("", [])
    query = f"SELECT {RUN_COLUMNS} FROM runs {where} ORDER BY started_at DESC, run_id DESC LIMIT ?"
    async with db.execute(query, [*params, -1 if limit is None else limit]) as cursor:
        return [row_run(row) for row in await cursor.fetchall()]


async def runs_by_id(db: aiosqlite.Connection, run_ids: Sequence[str]) -> dict[str, RunStats]:
    query = f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id IN (SELECT value FROM json_each(?))"
    async with db.execute(query, (json.dumps(list(run_ids)),)) as cursor:
        return {row[0]: row_run(row) for row in await cursor.fetchall()}


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
