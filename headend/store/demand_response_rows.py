"""Demand-response events as rows (shared by SQLite and PostgreSQL) and the audit event each
stored version writes: who asked, and what changed against the version it replaces."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from headend.config.load import DemandResponseEvent
from headend.events.model import Event, EventOrigin, HeadendEvent
from headend.store.base import StaleDemandResponse
from headend.store.records import ToStored

DR_FIELDS = (
    "id",
    "version",
    "feeder",
    "households",
    "start_at",
    "end_at",
    "reduction_kw",
    "spread_us",
    "cancelled",
    "requester",
    "reason",
    "stored_at",
)
DR_COLUMNS = ", ".join(DR_FIELDS)
EVENT_NAME = "demand_response"
_US = timedelta(microseconds=1)


def dr_values(
    event: DemandResponseEvent,
    requester: str,
    reason: str,
    stored_at: datetime,
    stored: ToStored,
) -> tuple[Any, ...]:
    """The values of `DR_FIELDS` for one version."""
    households = None if event.households is None else json.dumps(event.households)
    return (
        event.id,
        event.version,
        event.feeder,
        households,
        stored(event.start),
        stored(event.end),
        event.reduction_kw,
        event.spread // _US,  # whole microseconds: exact, unlike float seconds
        event.cancelled,
        requester,
        reason,
        stored(stored_at),
    )


def row_dr(row: Sequence[Any], time: Callable[[Any], datetime]) -> DemandResponseEvent:
    """The event of a row selected with `DR_COLUMNS`."""
    households = row[3]
    if isinstance(households, str):
        households = json.loads(households)
    return DemandResponseEvent(
        id=row[0],
        version=row[1],
        feeder=row[2],
        households=households,
        start=time(row[4]),
        end=time(row[5]),
        reduction_kw=row[6],
        spread=timedelta(microseconds=row[7]),
        cancelled=bool(row[8]),
    )


def in_force(event: DemandResponseEvent, at: datetime) -> bool:
    """Whether some household may be inside the event's window at `at`."""
    return not event.cancelled and event.start <= at < event.end + event.spread


def stale(event: DemandResponseEvent, latest: DemandResponseEvent) -> StaleDemandResponse:
    return StaleDemandResponse(
        f"demand-response event {event.id!r}: version {event.version} is not newer than the "
        f"stored version {latest.version} (send version {latest.version + 1})"
    )


def describe(event: DemandResponseEvent) -> str:
    """The event in one line: target, reduction, window, spread."""
    target = f"feeder {event.feeder}" if event.feeder is not None else _group(event.households)
    text = f"{target}: {event.reduction_kw:g} kW from {_when(event.start)} to {_when(event.end)}"
    if event.spread:
        text += f", spread {event.spread}"
    return text


def audit_event(
    previous: DemandResponseEvent | None,
    event: DemandResponseEvent,
    requester: str,
    reason: str,
    at: datetime,
) -> Event:
    """The head-end event that records a stored version: who, what changed, why."""
    if event.cancelled:
        kind, change = "cancelled", f"was {describe(previous or event)}"
    elif previous is None:
        kind, change = "started", describe(event)
    else:
        kind, change = "modified", _changes(previous, event)
    text = f"demand response {event.id} version {event.version} {kind} by {requester}: {change}"
    if reason:
        text += f" (reason: {reason})"
    return Event(
        origin=EventOrigin.HEADEND,
        meter_id=None,
        code=HeadendEvent.DEMAND_RESPONSE,
        name=EVENT_NAME,
        text=text,
        time=at,
        received_at=datetime.now(UTC),
        source=requester,
        cause=kind,
    )


def nudged(event: Event) -> Event:
    """The same audit event a microsecond later: two changes stamped with one time (a frozen
    clock, a fast caller) would otherwise share an event key, and the second would be lost."""
    return event.model_copy(update={"time": event.time + _US})


def _changes(old: DemandResponseEvent, new: DemandResponseEvent) -> str:
    shown: list[str] = []
    before, after = _target(old), _target(new)
    if before != after:
        shown.append(f"target {before} -> {after}")
    if old.reduction_kw != new.reduction_kw:
        shown.append(f"reduction {old.reduction_kw:g} -> {new.reduction_kw:g} kW")
    if old.start != new.start:
        shown.append(f"start {_when(old.start)} -> {_when(new.start)}")
    if old.end != new.end:
        shown.append(f"end {_when(old.end)} -> {_when(new.end)}")
    if old.spread != new.spread:
        shown.append(f"spread {old.spread} -> {new.spread}")
    return ", ".join(shown) or "unchanged"


def _target(event: DemandResponseEvent) -> str:
    return f"feeder {event.feeder}" if event.feeder is not None else _group(event.households)


def _group(households: Sequence[str] | None) -> str:
    members = list(households or ())
    shown = ",".join(members[:5]) + (f",... ({len(members)})" if len(members) > 5 else "")
    return f"households {shown}"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
