"""Outbox entries and statuses from the rows a fetch selects, for both backends.

SQLite (`outbox.py`) and PostgreSQL (`postgres_outbox.py`) select the same columns: an entry's
seq, kind, created_at and reference, then the reading's columns in `rows.READING_COLUMNS` order
(NULL unless the entry is a reading). They differ in the SQL and in how a time is stored, so the
backend passes its time conversion and its lookups of events and runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from drivers.contract import Quality, Reading, trusted_reading
from headend.events.model import Event
from headend.runs.model import RunStats
from headend.store.base import OutboxEntry, OutboxStatus
from headend.store.records import FromStored
from headend.store.rows import decode_value

Lookup = Callable[[Sequence[str]], Awaitable[dict[str, Any]]]

# fields set as if passed to OutboxEntry(...): the common ones and the one the kind carries
_FIELDS_SET = {kind: {"seq", "kind", "created_at", kind} for kind in ("reading", "event", "run")}
_new_model = BaseModel.__new__
_set_attr = object.__setattr__
_QUALITY = {quality.value: quality for quality in Quality}


def entry(
    seq: int,
    kind: str,
    created_at: datetime,
    reading: Reading | None = None,
    event: Event | None = None,
    run: RunStats | None = None,
) -> OutboxEntry:
    """An entry as `OutboxEntry(...)` would make it, without validation."""
    # built like drivers.contract.trusted_reading: every value comes typed from the store, and
    # validating (or model_construct) would cost more than the whole reading does
    built = _new_model(OutboxEntry)
    values = {
        "seq": seq,
        "kind": kind,
        "created_at": created_at,
        "reading": reading,
        "event": event,
        "run": run,
    }
    _set_attr(built, "__dict__", values)
    _set_attr(built, "__pydantic_fields_set__", _FIELDS_SET[kind])
    _set_attr(built, "__pydantic_extra__", None)
    _set_attr(built, "__pydantic_private__", None)
    return built


def stored_reading(row: Sequence[Any], time: FromStored) -> Reading:
    """The reading of a fetched row (columns 4..); stored values are canonical, so no
    validation."""
    kind, text = row[8], row[9]
    return trusted_reading(
        row[4],
        row[5],
        Decimal(text) if kind == "decimal" else decode_value(kind, text),
        row[10],
        time(row[6]) if row[7] else None,
        time(row[11]),
        _QUALITY[row[12]],
    )


async def entries(
    rows: Sequence[Sequence[Any]],
    time: FromStored,
    events_by_key: Lookup,
    runs_by_id: Lookup,
) -> list[OutboxEntry]:
    """The entries of fetched rows, in their order; events and runs looked up once each."""
    event_keys = [row[3] for row in rows if row[1] == "event"]
    run_ids = [row[3] for row in rows if row[1] == "run"]
    events: dict[str, Event] = await events_by_key(event_keys) if event_keys else {}
    runs: dict[str, RunStats] = await runs_by_id(run_ids) if run_ids else {}
    built: list[OutboxEntry] = []
    for row in rows:
        seq, kind, created = row[0], row[1], time(row[2])
        # a referenced row is never deleted; were one missing, its entry is passed over
        if kind == "reading":
            if row[4] is not None:
                built.append(entry(seq, kind, created, reading=stored_reading(row, time)))
        elif kind == "event":
            if (event := events.get(row[3])) is not None:
                built.append(entry(seq, kind, created, event=event))
        elif (run := runs.get(row[3])) is not None:
            built.append(entry(seq, kind, created, run=run))
    return built


def status(sink: str, row: Sequence[Any], time: FromStored) -> OutboxStatus:
    """A sink's status from its row: cursor, depth, created_at of the oldest undelivered."""
    delivered, depth, oldest = row
    return OutboxStatus(
        sink=sink,
        depth=depth,
        oldest_at=None if oldest is None else time(oldest),
        delivered_seq=delivered,
    )
