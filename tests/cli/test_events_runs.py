"""`headend events` and `headend runs` print what a store holds, on SQLite and PostgreSQL.

The store is filled through the Store API (save_events, save_run); the commands run in-process
(tests/cli/inprocess.py), one of each also as a real subprocess.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from headend.events.model import Event, EventOrigin, HeadendEvent
from headend.runs.model import RunStats
from headend.store import open_store
from tests.cli.inprocess import cli
from tests.headend.subprocess_cli import headend

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def meter_event(meter: str, code: int, name: str, hours: int) -> Event:
    at = T0 + timedelta(hours=hours)
    return Event(
        origin=EventOrigin.METER,
        meter_id=meter,
        channel_id="dc1",
        code=code,
        name=name,
        text=name.replace("_", " "),
        time=at,
        received_at=at + timedelta(minutes=5),
        source="0.0.99.98.0.255",
    )


EVENTS = [
    meter_event("m-a", 1, "power_failure", 1),
    meter_event("m-b", 44, "cover_opened", 2),
    meter_event("m-c", 1, "power_failure", 3),
    Event(
        origin=EventOrigin.HEADEND,
        meter_id=None,
        channel_id="dc1",
        code=HeadendEvent.CHANNEL_DOWN,
        name="channel_down",
        text="concentrator dc1 refused the connection",
        time=T0 + timedelta(hours=4),
        received_at=T0 + timedelta(hours=4),
        source="load-profile",
        cause="refused",
    ),
    meter_event("m-a", 2, "power_restored", 5),
]


def run(run_id: str, plan: str, started: datetime, ok: int, partial: int, failed: int) -> RunStats:
    return RunStats(
        run_id=run_id,
        plan=plan,
        started_at=started,
        duration_s=12.5,
        attempted=ok + partial + failed,
        ok=ok,
        partial=partial,
        failed=failed,
        failed_by_cause={"timeout": failed} if failed else {},
        rereads=1 if failed else 0,
        readings=(ok + partial) * 4,
        stored=(ok + partial) * 4,
    )


DAY2 = T0 + timedelta(days=1)
RUNS = [
    run("lp-1", "load-profile", T0 + timedelta(minutes=15), 9, 0, 1),
    run("lp-2", "load-profile", T0 + timedelta(hours=12), 10, 0, 0),
    run("dr-1", "daily-registers", DAY2 + timedelta(minutes=5), 18, 1, 1),
    run("lp-3", "load-profile", DAY2 + timedelta(hours=1), 8, 1, 1),
]


@pytest.fixture
async def filled(store_url: str) -> str:
    store = await open_store(store_url)
    try:
        assert await store.save_events(EVENTS) == len(EVENTS)
        for stats in RUNS:
            await store.save_run(stats)
    finally:
        await store.close()
    return store_url


def event_line(event: Event) -> dict[str, Any]:
    return {"id": event.key, **event.model_dump(mode="json")}


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


async def test_events_json_lines_carry_the_id_in_time_order(filled: str) -> None:
    status, out, err = await cli("events", "--db", filled, "--json")
    assert (status, err) == (0, "")
    assert lines(out) == [event_line(e) for e in EVENTS]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--meter", "m-a"], [0, 4]),
        (["--meter", "m-a", "--meter", "m-c"], [0, 2, 4]),  # repeated: any of them
        # inclusive bounds; a time without offset is UTC; the channel's event has no meter
        (["--from", "2025-03-01T02:00", "--to", "2025-03-01T04:00:00+00:00"], [1, 2, 3]),
        (["--from", "2025-03-01T05:00:00+02:00"], [2, 3, 4]),  # 03:00 UTC
        (["--meter", "m-a", "--from", "2025-03-01T02:00"], [4]),
        (["--limit", "2"], [0, 1]),  # the oldest first
        (["--meter", "m-b", "--meter", "m-c", "--limit", "1"], [1]),
    ],
)
async def test_events_filters(filled: str, options: list[str], expected: list[int]) -> None:
    status, out, err = await cli("events", "--db", filled, "--json", *options)
    assert (status, err) == (0, "")
    assert lines(out) == [event_line(EVENTS[i]) for i in expected]


async def test_events_table(filled: str) -> None:
    status, out, err = await cli("events", "--db", filled, "--to", "2025-03-01T04:00")
    assert (status, err) == (0, "")
    assert "4 events" in out
    rows = [line for line in out.splitlines() if "2025-03-01T0" in line]
    assert len(rows) == 4
    assert "m-b" in rows[1] and "cover_opened" in rows[1] and "44" in rows[1]
    assert "channel dc1" in rows[3] and "channel_down" in rows[3] and "1002" in rows[3]
    assert "m-a" in rows[0] and "power_failure" in rows[0]  # the later m-a event is past --to


async def test_events_nothing_matches_and_bad_bounds(filled: str) -> None:
    status, out, err = await cli("events", "--db", filled, "--meter", "nobody")
    assert (status, out) == (0, "")
    assert "no events match" in err
    status, out, err = await cli(
        "events", "--db", filled, "--from", "2025-03-02", "--to", "2025-03-01"
    )
    assert (status, out) == (2, "")
    assert "--from must not be after --to" in err


def run_line(stats: RunStats) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(stats.model_dump_json())
    return parsed


def rate_line(plan: str, day: str, runs: int, attempted: int, collected: int) -> dict[str, Any]:
    return {
        "daily_rate": {
            "plan": plan,
            "day": day,
            "runs": runs,
            "attempted": attempted,
            "collected": collected,
            "rate": collected / attempted,
        }
    }


async def test_runs_json_newest_first_then_daily_rates(filled: str) -> None:
    status, out, err = await cli("runs", "--db", filled, "--json")
    assert (status, err) == (0, "")
    newest_first = sorted(RUNS, key=lambda r: r.started_at, reverse=True)
    assert lines(out) == [run_line(r) for r in newest_first] + [
        # by plan, then by UTC day
        rate_line("daily-registers", "2025-03-02", 1, 20, 19),
        rate_line("load-profile", "2025-03-01", 2, 20, 19),
        rate_line("load-profile", "2025-03-02", 1, 10, 9),
    ]


async def test_runs_of_one_plan_and_limit(filled: str) -> None:
    status, out, err = await cli("runs", "--db", filled, "--plan", "load-profile", "--json")
    assert (status, err) == (0, "")
    assert lines(out) == [run_line(RUNS[i]) for i in (3, 1, 0)] + [
        rate_line("load-profile", "2025-03-01", 2, 20, 19),
        rate_line("load-profile", "2025-03-02", 1, 10, 9),
    ]
    status, out, err = await cli(
        "runs", "--db", filled, "--plan", "load-profile", "--limit", "1", "--json"
    )
    assert (status, err) == (0, "")
    assert [line.get("run_id") for line in lines(out)] == ["lp-3", None, None]


async def test_runs_tables(filled: str) -> None:
    status, out, err = await cli("runs", "--db", filled, "--plan", "load-profile")
    assert (status, err) == (0, "")
    assert "3 runs, newest first" in out and "collection success per plan and day" in out
    lp1 = next(line for line in out.splitlines() if "2025-03-01T00:15:00" in line)
    assert "1 timeout" in lp1
    assert "95.00%" in out and "90.00%" in out
    assert "daily-registers" not in out


async def test_runs_of_an_empty_store(store_url: str) -> None:
    store = await open_store(store_url)  # created, nothing in it
    await store.close()
    status, out, err = await cli("runs", "--db", store_url)
    assert (status, out) == (0, "")
    assert "no runs stored" in err
    status, out, err = await cli("runs", "--db", store_url, "--json")
    assert (status, out, err) == (0, "", "")


async def test_as_real_subprocesses(filled: str) -> None:
    status, out, err = await headend("events", "--db", filled, "--json", "--meter", "m-c")
    assert status == 0, err
    assert lines(out) == [event_line(EVENTS[2])]
    status, out, err = await headend("runs", "--db", filled, "--plan", "daily-registers", "--json")
    assert status == 0, err
    assert lines(out) == [run_line(RUNS[2]), rate_line("daily-registers", "2025-03-02", 1, 20, 19)]
