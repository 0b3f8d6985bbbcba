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
from decimal import Decimal
from typing import Any

import aiosqlite
from pydantic import BaseModel

from drivers.contract import Quality, Reading, trusted_reading
from headend.events.model import Event
from headend.runs.model import RunStats
from headend.store.base import OutboxEntry, OutboxStatus
from headend.store.events import events_by_key
from headend.store.rows import decode_value
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

# fields set as if passed to OutboxEntry(...): the common ones and the one the kind carries
_FIELDS_SET = {kind: {"seq", "kind", "created_at", kind} for kind in ("reading", "event", "run")}
_new_model = BaseModel.__new__
_set_attr = object.__setattr__


def _entry(
    seq: int,
    kind: str,
    created_at: datetime,
    reading: Reading | None = None,
    event: Event | None = None,
    run: RunStats | None = None,
) -> OutboxEntry:
    # built like drivers.contract.trusted_reading: every value comes typed from the store, and
    # validating (or model_construct) would cost more than the whole reading does
    entry = _new_model(OutboxEntry)
    values = {
        "seq": seq,
        "kind": kind,
        "created_at": created_at,
        "reading": reading,
        "event": event,
        "run": run,
    }
    _set_attr(entry, "__dict__", values)
    _set_attr(entry, "__pydantic_fields_set__", _FIELDS_SET[kind])
    _set_attr(entry, "__pydantic_extra__", None)
    _set_attr(entry, "__pydantic_private__", None)
    return entry


# equal instants recur across a fetch (a session's receive time, a fleet's capture times)
_time = functools.lru_cache(maxsize=4096)(datetime.fromisoformat)
_QUALITY = {quality.value: quality for quality in Quality}


def _reading(row: Sequence[Any]) -> Reading:
    # columns 4.. as rows.row_reading reads them; stored values are canonical, so no validation
    kind, text = row[8], row[9]
    return trusted_reading(
        row[4],
        row[5],
        Decimal(text) if kind == "decimal" else decode_value(kind, text),
        row[10],
        _time(row[6]) if row[7] else None,
        _time(row[11]),
        _QUALITY[row[12]],
    )


async def fetch(db: aiosqlite.Connection, sink: str, limit: int) -> list[OutboxEntry]:
    """Up to `limit` entries after `sink`'s cursor, in seq order."""
    if limit < 1:
        # SQLite reads a negative LIMIT as no limit at all
        raise ValueError(f"fetch at least one outbox entry for sink {sink!r}, not {limit}")
    async with db.execute(_FETCH, (sink, limit)) as cursor:
        rows = await cursor.fetchall()
    event_keys = [row[3] for row in rows if row[1] == "event"]
    run_ids = [row[3] for row in rows if row[1] == "run"]
    events: dict[str, Event] = await events_by_key(db, event_keys) if event_keys else {}
    runs: dict[str, RunStats] = await runs_by_id(db, run_ids) if run_ids else {}
    entries: list[OutboxEntry] = []
    for row in rows:
        seq, kind, created = row[0], row[1], _time(row[2])
        # a referenced row is never deleted; were one missing, its entry is passed over
        if kind == "reading":
            if row[4] is not None:
                entries.append(_entry(seq, kind, created, reading=_reading(row)))
        elif kind == "event":
            if (event := events.get(row[3])) is not None:
                entries.append(_entry(seq, kind, created, event=event))
        elif (run := runs.get(row[3])) is not None:
            entries.append(_entry(seq, kind, created, run=run))
    return entries


async def ack(db: aiosqlite.Connection, sink: str, seq: int) -> None:
    """Move the cursor forward (never back). Inside a transaction."""
    await db.execute(_ACK, (sink, seq))


async def status(db: aiosqlite.Connection, sinks: Sequence[str]) -> list[OutboxStatus]:
    statuses: list[OutboxStatus] = []
    for sink in sinks:
        async with db.execute(_STATUS, (sink,)) as cursor:
            row = await cursor.fetchone()
        assert row is not None  # an aggregate always returns a row
        delivered, depth, oldest = row
        statuses.append(
            OutboxStatus(
                sink=sink,
                depth=depth,
                oldest_at=None if oldest is None else datetime.fromisoformat(oldest),
                delivered_seq=delivered,
            )
        )
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
