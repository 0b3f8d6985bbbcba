"""The outbox in PostgreSQL: entries fetched per sink after its cursor, acknowledged, pruned.

As in SQLite (`outbox.py`), an entry references its row and a fetch joins back: readings in the
same query, events and runs by one lookup each. Entries get their seq under the outbox advisory
lock, held to commit, so what a fetch sees is always a prefix of seq order: no entry commits later
below a sink's cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import asyncpg

from drivers.contract import Quality, Reading, trusted_reading
from headend.events.model import Event
from headend.runs.model import RunStats
from headend.store.base import OutboxEntry, OutboxStatus
from headend.store.postgres_records import events_by_key, runs_by_id
from headend.store.rows import decode_value

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

_QUALITY = {quality.value: quality for quality in Quality}


def _reading(row: Sequence[Any]) -> Reading:
    # columns 4.. as stored; stored values are canonical, so no validation
    kind, text = row[8], row[9]
    return trusted_reading(
        row[4],
        row[5],
        Decimal(text) if kind == "decimal" else decode_value(kind, text),
        row[10],
        row[6] if row[7] else None,
        row[11],
        _QUALITY[row[12]],
    )


async def fetch(conn: asyncpg.Connection, sink: str, limit: int) -> list[OutboxEntry]:
    """Up to `limit` entries after `sink`'s cursor, in seq order."""
    rows = await conn.fetch(_FETCH, sink, limit)
    event_keys = [row[3] for row in rows if row[1] == "event"]
    run_ids = [row[3] for row in rows if row[1] == "run"]
    events: dict[str, Event] = await events_by_key(conn, event_keys) if event_keys else {}
    runs: dict[str, RunStats] = await runs_by_id(conn, run_ids) if run_ids else {}
    construct = OutboxEntry.model_construct
    entries: list[OutboxEntry] = []
    for row in rows:
        seq, kind, created = row[0], row[1], row[2]
        # a referenced row is never deleted; were one missing, its entry is passed over
        if kind == "reading":
            if row[4] is not None:
                entries.append(
                    construct(seq=seq, kind=kind, created_at=created, reading=_reading(row))
                )
        elif kind == "event":
            if (event := events.get(row[3])) is not None:
                entries.append(construct(seq=seq, kind=kind, created_at=created, event=event))
        elif (run := runs.get(row[3])) is not None:
            entries.append(construct(seq=seq, kind=kind, created_at=created, run=run))
    return entries


async def status(conn: asyncpg.Connection, sinks: Sequence[str]) -> list[OutboxStatus]:
    statuses: list[OutboxStatus] = []
    for sink in sinks:
        delivered, depth, oldest = await conn.fetchrow(_STATUS, sink)
        statuses.append(
            OutboxStatus(sink=sink, depth=depth, oldest_at=oldest, delivered_seq=delivered)
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
