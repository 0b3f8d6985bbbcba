"""Bulk ingest of readings into PostgreSQL by COPY: idempotent, conflicts kept, outbox in step.

A group of batches (see `group_commit`) is copied in binary (`copy_records_to_table`) into a
temporary staging table dropped at commit. One statement then inserts the staged rows into
`readings` (`ON CONFLICT DO NOTHING`), queues an outbox entry for each row it inserted, in batch
order, adds the distinct (meter, register, unit) of the inserted rows to `register_units` (a row
kept as a conflict is not a reading), and counts the new rows per batch. Only when fewer rows
were new than staged are the staged rows compared with what is stored (one join on the primary
key) to tell a repeat of a stored value from a conflict, as `ingest.py` does for SQLite. The
caller runs this inside one transaction.

Every row carries its batch and its place in the group; `first` marks the first row of a key in
the group, the only one offered to `readings` (a later row with the key is a repeat or a
conflict, as if its batch had been saved after the earlier one).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from drivers.contract import Reading
from headend.store.base import ReadingConflict
from headend.store.postgres_schema import OUTBOX_LOCK
from headend.store.rows import READING_COLUMNS, encode_value
from headend.store.rows import aware as aware  # the postgres modules import it from here

STAGED_COLUMNS = (
    "ord",
    "batch",
    "first",
    "meter_id",
    "obis",
    "capture_time",
    "capture_known",
    "value_type",
    "value",
    "unit",
    "receive_time",
    "quality",
)

_STAGE = """
CREATE TEMPORARY TABLE staged_readings (
    ord           integer NOT NULL,
    batch         integer NOT NULL,
    first         boolean NOT NULL,
    meter_id      text COLLATE "C" NOT NULL,
    obis          text COLLATE "C" NOT NULL,
    capture_time  timestamptz NOT NULL,
    capture_known boolean NOT NULL,
    value_type    text NOT NULL,
    value         text COLLATE "C" NOT NULL,
    unit          text,
    receive_time  timestamptz NOT NULL,
    quality       text NOT NULL
) ON COMMIT DROP
"""

# new rows per batch; the outbox entries are queued and the units kept in the same statement (the
# outbox lock taken before it also orders concurrent ingests' register_units inserts)
_INSERT = f"""
WITH new AS (
    INSERT INTO readings ({READING_COLUMNS})
    SELECT {READING_COLUMNS} FROM staged_readings WHERE first ORDER BY ord
    ON CONFLICT DO NOTHING
    RETURNING meter_id, obis, capture_time, unit
), units AS (
    INSERT INTO register_units (meter_id, obis, unit)
    SELECT DISTINCT meter_id, obis, coalesce(unit, '') FROM new
    ON CONFLICT DO NOTHING
), placed AS (
    SELECT s.ord, s.batch, s.meter_id, s.obis, s.capture_time
    FROM new AS n JOIN staged_readings AS s
        ON s.first AND s.meter_id = n.meter_id AND s.obis = n.obis
        AND s.capture_time = n.capture_time
), queued AS (
    INSERT INTO outbox (kind, created_at, meter_id, obis, capture_time)
    SELECT 'reading', now(), meter_id, obis, capture_time FROM placed ORDER BY ord
)
SELECT batch, count(*) FROM placed GROUP BY batch
"""

_DIFFERING = """
SELECT s.batch, s.meter_id, s.obis, s.capture_time, r.value, s.value, s.unit, s.receive_time
FROM staged_readings AS s JOIN readings AS r
    ON r.meter_id = s.meter_id AND r.obis = s.obis AND r.capture_time = s.capture_time
WHERE r.value_type <> s.value_type OR r.value <> s.value
ORDER BY s.ord
"""

_KEEP_CONFLICT = """
INSERT INTO reading_conflicts
    (meter_id, obis, capture_time, stored_value, new_value, unit, receive_time, first_seen,
     last_seen)
VALUES ($1, $2, $3, $4, $5, $6, $7, now(), now())
ON CONFLICT (meter_id, obis, capture_time, new_value) DO UPDATE SET last_seen = EXCLUDED.last_seen
"""

Key = tuple[str, str, datetime]


def staged_rows(groups: Sequence[Sequence[Reading]]) -> list[tuple[Any, ...]]:
    """The staging rows of a group of batches, in `STAGED_COLUMNS` order."""
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    seen: set[Key] = set()
    ord_ = 0
    for batch, readings in enumerate(groups):
        for reading in readings:
            kind, text = encode_value(reading.value)
            received = aware(reading.receive_time)
            captured = reading.capture_time
            at = received if captured is None else aware(captured)
            key = (reading.meter_id, reading.obis, at)
            first = key not in seen
            if first:
                seen.add(key)
            append(
                (
                    ord_,
                    batch,
                    first,
                    reading.meter_id,
                    reading.obis,
                    at,
                    captured is not None,
                    kind,
                    text,
                    reading.unit,
                    received,
                    reading.quality.value,
                )
            )
            ord_ += 1
    return rows


async def insert_groups(
    conn: asyncpg.Connection, groups: Sequence[Sequence[Reading]]
) -> list[tuple[int, list[ReadingConflict]]]:
    """Insert a group of batches; per batch (rows new to the store, its conflicts). Inside a
    transaction."""
    rows = staged_rows(groups)
    await conn.execute(_STAGE)
    await conn.copy_records_to_table("staged_readings", records=rows, columns=STAGED_COLUMNS)
    # outbox seq is taken under this lock, released at commit: seq order is commit order, so a
    # sink reading after its cursor never misses an entry that commits late with a lower seq
    await conn.execute("SELECT pg_advisory_xact_lock($1)", OUTBOX_LOCK)
    new = [0] * len(groups)
    for batch, count in await conn.fetch(_INSERT):
        new[batch] = count
    conflicts: list[list[ReadingConflict]] = [[] for _ in groups]
    if sum(new) == len(rows):
        return list(zip(new, conflicts, strict=True))
    seen: set[tuple[int, Key, str]] = set()
    kept: list[tuple[Any, ...]] = []
    for batch, meter_id, obis, at, stored, value, unit, received in await conn.fetch(_DIFFERING):
        # once per batch and distinct value, as a batch saved alone reports it
        if (batch, (meter_id, obis, at), value) in seen:
            continue
        seen.add((batch, (meter_id, obis, at), value))
        kept.append((meter_id, obis, at, stored, value, unit, received))
        conflicts[batch].append(
            ReadingConflict(
                meter_id=meter_id,
                obis=obis,
                capture_time=at,
                stored_value=stored,
                new_value=value,
                unit=unit,
                receive_time=received,
            )
        )
    if kept:
        await conn.executemany(_KEEP_CONFLICT, kept)
    return list(zip(new, conflicts, strict=True))
