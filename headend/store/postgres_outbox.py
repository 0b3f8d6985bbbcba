"""The outbox in PostgreSQL: entries fetched per sink after its cursor, acknowledged, pruned.

As in SQLite (`outbox.py`), an entry references its row and a fetch joins back: readings in the
same query, events and runs by one lookup each. Entries get their seq under the outbox advisory
lock, held to commit, so what a fetch sees is always a prefix of seq order: no entry commits later
below a sink's cursor.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from headend.store import outbox_entries
from headend.store.base import OutboxEntry, OutboxStatus
from headend.store.postgres_records import events_by_key, runs_by_id
from headend.store.records import stored_as_is

_CURSOR = "COALESCE((SELECT seq FROM outbox_cursors WHERE sink = $1), 0)"

_FETCH = f"""
SELECT o.seq, o.kind, o.created_at, coalesce(o.event_key, o.run_id),
       r.meter_id, r.obis, r.capture_time, r.capture_known, r.value_type, r.value, r.unit,
       r.receive_time, r.quality
FROM outbox AS o
LEFT JOIN readings AS r ON o.kind = 'reading'
    AND r.meter_id = o.meter_id AND r.obis = o.obis AND r.capture_time = o.capture_time
WHERE o.seq > {_CURSOR}
ORDER BY o.seq
LIMIT $2
"""

ACK = """
INSERT INTO outbox_cursors (sink, seq) VALUES ($1, $2)
ON CONFLICT (sink) DO UPDATE SET seq = GREATEST(outbox_cursors.seq, EXCLUDED.seq)
"""

_STATUS = f"""
SELECT c.seq, (SELECT count(*) FROM outbox WHERE seq > c.seq),
       (SELECT created_at FROM outbox WHERE seq > c.seq ORDER BY seq LIMIT 1)
FROM (SELECT {_CURSOR} AS seq) AS c
"""

_PRUNE = """
DELETE FROM outbox WHERE seq <= (
    SELECT min(COALESCE(c.seq, 0))
    FROM unnest($1::text[]) AS s(sink) LEFT JOIN outbox_cursors AS c ON c.sink = s.sink
)
"""


async def fetch(conn: asyncpg.Connection, sink: str, limit: int) -> list[OutboxEntry]:
    """Up to `limit` entries after `sink`'s cursor, in seq order."""
    rows = await conn.fetch(_FETCH, sink, limit)
    return await outbox_entries.entries(
        rows,
        stored_as_is,
        lambda keys: events_by_key(conn, keys),
        lambda run_ids: runs_by_id(conn, run_ids),
    )


async def status(conn: asyncpg.Connection, sinks: Sequence[str]) -> list[OutboxStatus]:
    statuses: list[OutboxStatus] = []
    for sink in sinks:
        statuses.append(
            outbox_entries.status(sink, await conn.fetchrow(_STATUS, sink), stored_as_is)
        )
    return statuses


async def prune(conn: asyncpg.Connection, sinks: Sequence[str]) -> int:
    """Delete entries every one of `sinks` has delivered (all, for no sinks); returns how many.
    A sink without a cursor has delivered nothing."""
    if not sinks:
        done = await conn.execute("DELETE FROM outbox")
    else:
        done = await conn.execute(_PRUNE, list(sinks))
    return int(done.split()[-1])  # the command tag: "DELETE <rows>"
