"""The outbox in SQLite: entries fetched per sink after its cursor, acknowledged, pruned.

An entry references its row (schema v3), so a fetch joins back: readings in the same query (the
bulk of the outbox, built by `trusted_reading` from the stored text without pydantic's per-field
work), events and runs by one lookup each per fetch. The store runs these on a connection of its
own outside any write transaction, so a fetch sees only committed entries, and since one writer
hands out seq in commit order, what it sees is always a prefix: no entry appears later below a
sink's cursor.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from headend.store import outbox_entries
from headend.store.base import OutboxEntry, OutboxStatus
from headend.store.events import events_by_key
from headend.store.runs import runs_by_id

_CURSOR = "COALESCE((SELECT seq FROM outbox_cursors WHERE sink = ?), 0)"

# the reading columns in rows.READING_COLUMNS order, from position 4 on
_FETCH = f"""
SELECT o.seq, o.kind, o.created_at, o.ref,
       r.meter_id, r.obis, r.capture_time, r.capture_known, r.value_type, r.value, r.unit,
       r.receive_time, r.quality
FROM outbox AS o
LEFT JOIN readings AS r ON o.kind = 'reading'
    AND r.meter_id = o.meter_id AND r.obis = o.obis AND r.capture_time = o.capture_time
WHERE o.seq > {_CURSOR}
ORDER BY o.seq
LIMIT ?
"""

_ACK = """
INSERT INTO outbox_cursors (sink, seq) VALUES (?, ?)
ON CONFLICT (sink) DO UPDATE SET seq = MAX(seq, excluded.seq)
"""

_STATUS = f"""
SELECT c.seq, COUNT(o.seq),
       (SELECT created_at FROM outbox WHERE seq > c.seq ORDER BY seq LIMIT 1)
FROM (SELECT {_CURSOR} AS seq) AS c LEFT JOIN outbox AS o ON o.seq > c.seq
"""

# equal instants recur across a fetch (a session's receive time, a fleet's capture times)
_time = functools.lru_cache(maxsize=4096)(datetime.fromisoformat)


async def fetch(db: aiosqlite.Connection, sink: str, limit: int) -> list[OutboxEntry]:
    """Up to `limit` entries after `sink`'s cursor, in seq order."""
    if limit < 1:
        # SQLite reads a negative LIMIT as no limit at all
        raise ValueError(f"fetch at least one outbox entry for sink {sink!r}, not {limit}")
    async with db.execute(_FETCH, (sink, limit)) as cursor:
        rows = list(await cursor.fetchall())
    return await outbox_entries.entries(
        rows,
        _time,
        lambda keys: events_by_key(db, keys),
        lambda run_ids: runs_by_id(db, run_ids),
    )


async def ack(db: aiosqlite.Connection, sink: str, seq: int) -> None:
    """Move the cursor forward (never back). Inside a transaction."""
    await db.execute(_ACK, (sink, seq))


async def status(db: aiosqlite.Connection, sinks: Sequence[str]) -> list[OutboxStatus]:
    statuses: list[OutboxStatus] = []
    for sink in sinks:
        async with db.execute(_STATUS, (sink,)) as cursor:
            row = await cursor.fetchone()
        assert row is not None  # an aggregate always returns a row
        statuses.append(outbox_entries.status(sink, row, datetime.fromisoformat))
    return statuses


async def prune(db: aiosqlite.Connection, sinks: Sequence[str]) -> int:
    """Delete entries every one of `sinks` has delivered (all, for no sinks); returns how many.
    A sink without a cursor has delivered nothing. Inside a transaction."""
    if not sinks:
        return (await db.execute("DELETE FROM outbox")).rowcount
    query = "SELECT sink, seq FROM outbox_cursors WHERE sink IN (SELECT value FROM json_each(?))"
    async with db.execute(query, (json.dumps(list(sinks)),)) as cursor:
        cursors: dict[str, int] = dict(await cursor.fetchall())  # type: ignore[arg-type]
    floor = min(cursors.get(sink, 0) for sink in sinks)
    return (await db.execute("DELETE FROM outbox WHERE seq <= ?", (floor,))).rowcount
