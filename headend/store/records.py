"""Events, run statistics and last contacts as store rows and back, for both backends.

SQLite and PostgreSQL lay these records out column for column alike; they differ only in how a
time is stored: SQLite as UTC ISO text (`rows.utc_text` going in, `datetime.fromisoformat` coming
out), PostgreSQL as timestamptz (`postgres_ingest.aware` going in, a datetime coming out). So the
conversions are parameters here, and the field order lives in one place.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from headend.events.model import Event, EventOrigin
from headend.runs.model import RunStats
from headend.store.base import LastContact

# a time as the backend stores it, and back
ToStored = Callable[[datetime], Any]
FromStored = Callable[[Any], datetime]

EVENT_COLUMNS = (
    "key, origin, meter_id, channel_id, code, name, text, time, received_at, source, cause"
)
RUN_COLUMNS = (
    "run_id, plan, trigger, scheduled_for, started_at, duration_s, attempted, ok, partial, "
    "failed, failed_by_cause, rereads, readings, stored"
)
RUN_FIELDS = [column.strip() for column in RUN_COLUMNS.split(",")]
CONTACT_COLUMNS = "meter_id, at, ok, error, last_ok_at"


def stored_as_is(when: datetime) -> datetime:
    """The conversion for a backend whose driver reads and writes datetimes itself."""
    return when


def event_values(event: Event, stored: ToStored) -> tuple[Any, ...]:
    """The values of `EVENT_COLUMNS` for an event."""
    return (
        event.key,
        event.origin.value,
        event.meter_id,
        event.channel_id,
        event.code,
        event.name,
        event.text,
        stored(event.time),
        stored(event.received_at),
        event.source,
        event.cause,
    )


def row_event(row: Sequence[Any], time: FromStored) -> Event:
    """The event of a row selected with `EVENT_COLUMNS` (the key, first, is not a field)."""
    return Event(
        origin=EventOrigin(row[1]),
        meter_id=row[2],
        channel_id=row[3],
        code=row[4],
        name=row[5],
        text=row[6],
        time=time(row[7]),
        received_at=time(row[8]),
        source=row[9],
        cause=row[10],
    )


def run_values(run: RunStats, stored: ToStored) -> tuple[Any, ...]:
    """The values of `RUN_COLUMNS` for a run."""
    return (
        run.run_id,
        run.plan,
        run.trigger,
        None if run.scheduled_for is None else stored(run.scheduled_for),
        stored(run.started_at),
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


def row_run(row: Sequence[Any], time: FromStored) -> RunStats:
    """The run of a row selected with `RUN_COLUMNS`."""
    return RunStats(
        run_id=row[0],
        plan=row[1],
        trigger=row[2],
        scheduled_for=None if row[3] is None else time(row[3]),
        started_at=time(row[4]),
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


def row_contact(row: Sequence[Any], time: FromStored) -> LastContact:
    """The last contact of a row selected with `CONTACT_COLUMNS`."""
    return LastContact(
        meter_id=row[0],
        at=time(row[1]),
        ok=bool(row[2]),
        error=row[3],
        last_ok_at=None if row[4] is None else time(row[4]),
    )


def contacts_about(meter_ids: Sequence[str]) -> str:
    """How a write of these meters' contacts is named in an error."""
    return meter_ids[0] if len(meter_ids) == 1 else f"{len(meter_ids)} meters"
