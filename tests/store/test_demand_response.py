"""Demand-response events in the store (SQLite and PostgreSQL): versions idempotent on (id,
version), a newer version replacing the older, a stale one refused with nothing written, each
stored version audited as a head-end event 1030 (who, what changed) that also goes to the sinks,
and the events in force at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from headend.config.load import DemandResponseEvent
from headend.events.model import HeadendEvent
from headend.store import StaleDemandResponse, Store, open_store
from tests.store.samples import T0, drain

HOUR = timedelta(hours=1)


def dr(version: int = 1, **fields: object) -> DemandResponseEvent:
    values: dict[str, object] = {
        "id": "evening-peak",
        "version": version,
        "feeder": "feeder-1",
        "start": T0 + 17 * HOUR,
        "end": T0 + 20 * HOUR,
        "reduction_kw": 40.0,
        "spread": timedelta(minutes=10),
    }
    values.update(fields)
    return DemandResponseEvent.model_validate(values)


async def audit_texts(store: Store) -> list[str]:
    return [e.text for e in await store.events() if e.code == HeadendEvent.DEMAND_RESPONSE]


async def test_a_version_is_stored_once_and_audited(store: Store) -> None:
    event = dr()
    assert await store.save_demand_response(event, "cli:ops", reason="heat wave") == event
    # the same (id, version) again: the stored version back, nothing written
    other = dr(reduction_kw=99.0)
    assert await store.save_demand_response(other, "cli:someone") == event
    assert await store.demand_responses() == [event]
    [audit] = [e for e in await store.events() if e.code == HeadendEvent.DEMAND_RESPONSE]
    assert (audit.name, audit.source, audit.cause, audit.meter_id) == (
        "demand_response",
        "cli:ops",
        "started",
        None,
    )
    assert audit.text == (
        "demand response evening-peak version 1 started by cli:ops: feeder feeder-1: 40 kW "
        "from 2025-03-01T17:00:00+00:00 to 2025-03-01T20:00:00+00:00, spread 0:10:00 "
        "(reason: heat wave)"
    )
    # the audit goes to the sinks like every head-end event
    entries = await drain(store, "mqtt")
    assert [entry.event for entry in entries if entry.kind == "event"] == [audit]


async def test_a_newer_version_replaces_the_older_and_says_what_changed(store: Store) -> None:
    await store.save_demand_response(dr(), "cli:ops")
    longer = dr(2, reduction_kw=25.5, end=T0 + 21 * HOUR)
    assert await store.save_demand_response(longer, "mqtt:desk") == longer
    cancelled = dr(3, reduction_kw=25.5, end=T0 + 21 * HOUR, cancelled=True)
    await store.save_demand_response(cancelled, "cli:ops", reason="cooler")
    assert await store.demand_responses() == [cancelled]
    texts = await audit_texts(store)
    assert texts[1:] == [
        "demand response evening-peak version 2 modified by mqtt:desk: reduction 40 -> 25.5 kW, "
        "end 2025-03-01T20:00:00+00:00 -> 2025-03-01T21:00:00+00:00",
        "demand response evening-peak version 3 cancelled by cli:ops: was feeder feeder-1: "
        "25.5 kW from 2025-03-01T17:00:00+00:00 to 2025-03-01T21:00:00+00:00, spread 0:10:00 "
        "(reason: cooler)",
    ]


async def test_a_version_not_newer_than_the_stored_one_is_refused(store: Store) -> None:
    await store.save_demand_response(dr(1), "cli:ops")
    await store.save_demand_response(dr(3, reduction_kw=10.0), "cli:ops")
    with pytest.raises(
        StaleDemandResponse,
        match=r"version 2 is not newer than the stored "
        r"version 3 \(send version 4\)",
    ):
        await store.save_demand_response(dr(2, reduction_kw=20.0), "cli:late")
    assert await store.demand_responses() == [dr(3, reduction_kw=10.0)]
    assert len(await audit_texts(store)) == 2  # the refusal wrote nothing
    # a stored older version asked again is still the idempotent answer, not a refusal
    assert await store.save_demand_response(dr(1), "cli:ops") == dr(1)


async def test_changes_stamped_with_one_time_are_all_audited(store: Store) -> None:
    at = T0 + 16 * HOUR
    for version in (1, 2, 3):
        await store.save_demand_response(dr(version, reduction_kw=10.0 * version), "x", at=at)
    audits = [e for e in await store.events() if e.code == HeadendEvent.DEMAND_RESPONSE]
    assert len(audits) == 3
    assert audits[0].time == at and all(a.time - at < timedelta(milliseconds=1) for a in audits)


async def test_groups_and_the_events_in_force_at_a_time(store: Store) -> None:
    group = DemandResponseEvent(
        id="street-7",
        households=["m1", "m2", "m3"],
        start=T0 + 18 * HOUR,
        end=T0 + 19 * HOUR,
        reduction_kw=3.0,
    )
    over = dr(id="morning", start=T0 + 6 * HOUR, end=T0 + 8 * HOUR, spread=timedelta(0))
    await store.save_demand_response(dr(), "a")
    await store.save_demand_response(group, "b")
    await store.save_demand_response(over, "c")
    assert await store.demand_responses() == [over, dr(), group]  # by start
    assert await store.demand_responses(active_at=T0 + 18 * HOUR + 30 * timedelta(minutes=1)) == [
        dr(),
        group,
    ]
    # within the spread after the end a late household may still be inside its window
    assert await store.demand_responses(active_at=T0 + 20 * HOUR + timedelta(minutes=5)) == [dr()]
    assert await store.demand_responses(active_at=T0 + 20 * HOUR + timedelta(minutes=10)) == []
    await store.save_demand_response(dr(2, cancelled=True), "a")
    assert await store.demand_responses(active_at=T0 + 18 * HOUR) == [group]


async def test_events_survive_reopening(database: str) -> None:
    async with await open_store(database) as store:
        await store.save_demand_response(dr(), "cli:ops")
        await store.save_demand_response(dr(2, reduction_kw=12.0), "cli:ops")
    async with await open_store(database) as store:
        assert await store.demand_responses() == [dr(2, reduction_kw=12.0)]
        # the stored version answers a repeat after reopening too
        assert await store.save_demand_response(dr(2, reduction_kw=13.0), "x") == dr(
            2, reduction_kw=12.0
        )
        await store.save_demand_response(dr(3, cancelled=True), "cli:ops")
        assert await store.demand_responses() == [dr(3, cancelled=True)]
