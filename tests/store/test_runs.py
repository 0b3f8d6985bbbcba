"""Run statistics: stored (replaced by run_id), listed newest first, summed per plan and UTC
day."""

from __future__ import annotations

from datetime import date, timedelta, timezone

from headend.runs.model import DailyRate
from headend.store import Store
from tests.store.samples import T0, drain, run_stats

HOUR = timedelta(hours=1)


async def test_a_run_is_stored_and_replaced_by_its_id(store: Store) -> None:
    run = run_stats("r1", "profile", T0, attempted=100, ok=97, rereads=2, readings=9600)
    await store.save_run(run)
    assert await store.runs() == [run]
    assert run.failed_by_cause == {"timeout": 3} and run.scheduled_for is None

    finished = run.model_copy(
        update={"duration_s": 40.25, "failed": 1, "failed_by_cause": {"timeout": 1}, "ok": 99}
    )
    await store.save_run(finished)
    assert await store.runs() == [finished]
    # one outbox entry: for the new run, none for its replacement
    assert [entry.run for entry in await drain(store, "mqtt")] == [finished]


async def test_runs_are_listed_newest_first_by_plan(store: Store) -> None:
    runs = [
        run_stats("p1", "profile", T0),
        run_stats("d1", "daily", T0 + HOUR, attempted=5, ok=4),
        run_stats("p2", "profile", T0 + 2 * HOUR).model_copy(
            update={"trigger": "catch-up", "scheduled_for": T0 + HOUR}
        ),
    ]
    for run in runs:
        await store.save_run(run)
    assert await store.runs() == runs[::-1]
    assert await store.runs(plan="profile") == [runs[2], runs[0]]
    assert await store.runs(plan="profile", limit=1) == [runs[2]]
    assert await store.runs(plan="monthly") == []


async def test_daily_rates_sum_runs_per_plan_and_utc_day(store: Store) -> None:
    # 00:30 at UTC+02:00 is still the day before in UTC
    east = timezone(timedelta(hours=2))
    day1, day2 = T0 - timedelta(days=1), T0
    runs = [
        run_stats("a", "profile", day1 + 3 * HOUR, attempted=10, ok=8, partial=1),
        run_stats("b", "profile", (day2 - timedelta(minutes=90)).astimezone(east), attempted=10),
        run_stats("c", "profile", day2 + 5 * HOUR, attempted=20, ok=15, partial=2, failed=3),
        run_stats("d", "daily", day2 + HOUR, attempted=30, ok=30),
    ]
    for run in runs:
        await store.save_run(run)
    expected = [
        DailyRate(plan="daily", day=date(2025, 3, 1), runs=1, attempted=30, collected=30),
        DailyRate(plan="profile", day=date(2025, 2, 28), runs=2, attempted=20, collected=19),
        DailyRate(plan="profile", day=date(2025, 3, 1), runs=1, attempted=20, collected=17),
    ]
    assert await store.daily_rates() == expected
    assert await store.daily_rates(plan="profile") == expected[1:]
    assert expected[1].rate == 0.95
