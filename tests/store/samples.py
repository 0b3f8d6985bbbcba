"""Readings, events and runs for the store tests, and a helper that drains a sink's outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from drivers.contract import Reading
from headend.events.model import Event, EventOrigin
from headend.runs.model import RunStats
from headend.store import Store
from headend.store.base import OutboxEntry

T0 = datetime(2025, 3, 1, tzinfo=UTC)
QUARTER = timedelta(minutes=15)


def profile(meter_id: str, first: int, count: int, bump: int = 0) -> list[Reading]:
    """Quarter-hour energy readings of one meter from slot `first`; `bump` changes the values."""
    return [
        Reading(
            meter_id=meter_id,
            obis="1.0.1.8.0.255",
            value=Decimal(slot * 125 + bump) / 1000,
            unit="kWh",
            capture_time=T0 + slot * QUARTER,
            receive_time=T0 + (first + count) * QUARTER,
        )
        for slot in range(first, first + count)
    ]


def meter_event(meter_id: str, code: int, minute: int) -> Event:
    return Event(
        origin=EventOrigin.METER,
        meter_id=meter_id,
        code=code,
        name=f"event_{code}",
        text=f"event {code}",
        time=T0 + timedelta(minutes=minute),
        received_at=T0 + timedelta(hours=1),
        source="0.0.99.98.0.255",
    )


def run_stats(run_id: str, plan: str, started_at: datetime, **counts: int) -> RunStats:
    attempted = counts.pop("attempted", 10)
    ok = counts.pop("ok", attempted)
    return RunStats(
        run_id=run_id,
        plan=plan,
        started_at=started_at,
        duration_s=12.5,
        attempted=attempted,
        ok=ok,
        partial=counts.pop("partial", 0),
        failed=counts.pop("failed", attempted - ok),
        failed_by_cause={"timeout": attempted - ok} if attempted > ok else {},
        **counts,
    )


async def drain(store: Store, sink: str, batch: int = 7) -> list[OutboxEntry]:
    """Everything after `sink`'s cursor, fetched and acknowledged `batch` entries at a time."""
    delivered: list[OutboxEntry] = []
    while entries := await store.outbox_fetch(sink, batch):
        delivered.extend(entries)
        await store.outbox_ack(sink, entries[-1].seq)
    return delivered


def readings_of(entries: list[OutboxEntry]) -> list[Reading]:
    return [entry.reading for entry in entries if entry.reading is not None]
