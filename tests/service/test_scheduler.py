"""The plan scheduler on a real SQLite job store and a real AsyncIOScheduler: accelerated
simulated time, catch-up after a restart (once, coalesced), a run cut short caught up, removed
plans' jobs gone, kept next run times."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drivers.sim.clock import SimClock
from headend.config.fleet import ReadingPlan
from headend.service.clock import ScaledClock, ServiceClock
from headend.service.scheduler import PlanScheduler, ScheduledFire, current_fire, jobstore_url

HANG_GUARD_S = 30
REPO = Path(__file__).resolve().parents[2]


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2024-03-01 {text}").replace(tzinfo=UTC)


def plan(name: str, schedule: str) -> ReadingPlan:
    return ReadingPlan(name=name, schedule=schedule)


@dataclass
class Recorder:
    """The service's `fire` callback: records what each run serves and the clock's time then."""

    clock: ServiceClock
    fires: asyncio.Queue[tuple[ScheduledFire, datetime]] = field(default_factory=asyncio.Queue)
    block: set[str] = field(default_factory=set)  # plans whose runs wait for `release`
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, plan_name: str) -> None:
        fire = current_fire()
        assert fire is not None and fire.plan == plan_name
        self.fires.put_nowait((fire, self.clock.now()))
        if plan_name in self.block:
            await self.release.wait()

    async def next(self) -> ScheduledFire:
        async with asyncio.timeout(HANG_GUARD_S):
            fire, _ = await self.fires.get()
        return fire

    async def take(self, count: int) -> list[ScheduledFire]:
        return [await self.next() for _ in range(count)]


async def settle() -> None:
    """Let queued scheduler work and the runs it started go as far as they can."""
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'site.sqlite3'}"


@dataclass
class Schedulers:
    """The schedulers a test starts on one job store, to shut down at its end."""

    database: str
    started: list[PlanScheduler] = field(default_factory=list)

    def start(
        self, clock: ServiceClock, recorder: Recorder, plans: list[ReadingPlan]
    ) -> PlanScheduler:
        scheduler = PlanScheduler(self.database, clock, recorder)
        self.started.append(scheduler)
        scheduler.start(plans)
        return scheduler

    async def shutdown(self) -> None:
        for scheduler in self.started:
            await scheduler.shutdown()


@pytest.fixture
async def schedulers(database: str) -> AsyncIterator[Schedulers]:
    started = Schedulers(database)
    yield started
    await started.shutdown()


def job_rows(database: str) -> list[str]:
    path = database.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        return sorted(row[0] for row in db.execute("SELECT id FROM apscheduler_jobs"))


async def test_accelerated_clock_fires_every_15_minutes_of_simulated_time(
    schedulers: Schedulers,
) -> None:
    start = at("00:01")
    clock = ScaledClock(datetime.now(UTC), 3600, start=start)  # 15 simulated minutes: 0.25 s
    recorder = Recorder(clock)
    scheduler = schedulers.start(clock, recorder, [plan("profile", "every 15 minutes")])
    assert scheduler.next_runs() == {"profile": at("00:15")}

    async with asyncio.timeout(HANG_GUARD_S):
        got = [await recorder.fires.get() for _ in range(4)]
    times = [fire.scheduled_for for fire, _ in got]
    # on the quarter-hours of simulated time, each once, in order; never before it was due
    assert times[0] >= at("00:15")
    assert all(t.minute % 15 == 0 and t.second == 0 and t.microsecond == 0 for t in times)
    assert times == sorted(set(times))
    assert all(now >= fire.scheduled_for for fire, now in got)
    assert not any(fire.catch_up for fire, _ in got)
    assert scheduler.next_runs()["profile"] > times[-1]


async def test_a_run_missed_while_down_is_caught_up_once_then_on_schedule(
    database: str, schedulers: Schedulers
) -> None:
    clock = SimClock(at("00:01"), factor=0)  # moved by hand only
    recorder = Recorder(clock)
    plans = [
        plan("profile", "every 15 minutes"),
        plan("registers", "daily at 00:05"),
        plan("old", "every 1 hour"),
    ]
    first = schedulers.start(clock, recorder, plans)
    assert first.next_runs() == {
        "profile": at("00:15"),
        "registers": at("00:05"),
        "old": at("01:00"),
    }
    await first.shutdown()
    assert recorder.fires.empty()

    # the head-end is down from 00:01 to 01:07: profile missed 00:15 .. 01:00, registers 00:05
    clock.set(at("01:07"))
    second = schedulers.start(clock, recorder, plans[:2])  # "old" is no longer configured
    caught = {fire.plan: fire for fire in await recorder.take(2)}
    assert caught == {
        "profile": ScheduledFire("profile", at("01:00"), catch_up=True),
        "registers": ScheduledFire("registers", at("00:05"), catch_up=True),
    }
    assert second.next_runs() == {
        "profile": at("01:15"),
        "registers": at("00:05") + timedelta(days=1),
    }
    assert job_rows(database) == ["profile", "registers"]

    # nothing more until the next quarter-hour, then on schedule again
    clock.set(at("01:14:59"))
    second.wakeup()
    await settle()
    clock.set(at("01:15"))
    second.wakeup()
    assert await recorder.next() == ScheduledFire("profile", at("01:15"), catch_up=False)
    clock.set(at("01:31"))
    second.wakeup()
    assert await recorder.next() == ScheduledFire("profile", at("01:30"), catch_up=False)
    await settle()
    assert recorder.fires.empty()


async def test_a_run_cut_short_is_caught_up_at_the_next_start(schedulers: Schedulers) -> None:
    clock = SimClock(at("00:10"), factor=0)
    recorder = Recorder(clock, block={"profile"})
    plans = [plan("profile", "every 15 minutes")]
    first = schedulers.start(clock, recorder, plans)
    clock.set(at("00:15"))
    first.wakeup()
    assert await recorder.next() == ScheduledFire("profile", at("00:15"), catch_up=False)
    await first.shutdown()  # the 00:15 run is cancelled mid-way (as by a kill)

    clock.set(at("00:20"))
    recorder.block.clear()
    second = schedulers.start(clock, recorder, plans)
    assert await recorder.next() == ScheduledFire("profile", at("00:15"), catch_up=True)
    await settle()
    assert recorder.fires.empty()
    assert second.next_runs() == {"profile": at("00:30")}


async def test_a_finished_run_is_not_run_again_after_a_restart(schedulers: Schedulers) -> None:
    clock = SimClock(at("00:10"), factor=0)
    recorder = Recorder(clock)
    plans = [plan("profile", "every 15 minutes")]
    first = schedulers.start(clock, recorder, plans)
    clock.set(at("00:15"))
    first.wakeup()
    assert (await recorder.next()).scheduled_for == at("00:15")
    await settle()
    await first.shutdown(wait=True)

    second = schedulers.start(clock, recorder, plans)
    await settle()
    assert recorder.fires.empty()
    assert second.next_runs() == {"profile": at("00:30")}


async def test_a_changed_schedule_starts_from_its_own_next_fire_time(
    schedulers: Schedulers,
) -> None:
    clock = SimClock(at("00:01"), factor=0)
    recorder = Recorder(clock)
    first = schedulers.start(clock, recorder, [plan("profile", "every 15 minutes")])
    await first.shutdown()

    clock.set(at("00:40"))
    second = schedulers.start(clock, recorder, [plan("profile", "hourly at :50")])
    await settle()
    assert recorder.fires.empty()  # the old schedule's missed runs are not the new one's
    assert second.next_runs() == {"profile": at("00:50")}


async def test_plans_without_a_schedule_get_no_job(database: str, schedulers: Schedulers) -> None:
    clock = SimClock(at("00:01"), factor=0)
    scheduler = schedulers.start(
        clock, Recorder(clock), [ReadingPlan(name="on-demand"), plan("daily", "daily at 00:05")]
    )
    assert scheduler.next_runs() == {"daily": at("00:05")}
    assert job_rows(database) == ["daily"]


async def test_a_fire_during_a_long_run_follows_it_once(schedulers: Schedulers) -> None:
    clock = SimClock(at("00:10"), factor=0)
    recorder = Recorder(clock, block={"profile"})
    scheduler = schedulers.start(clock, recorder, [plan("profile", "every 15 minutes")])
    clock.set(at("00:15"))
    scheduler.wakeup()
    assert await recorder.next() == ScheduledFire("profile", at("00:15"), catch_up=False)
    # the 00:15 run is still going at 00:30 and 00:45: those fires wait, coalesced
    for time in ("00:30", "00:46"):
        clock.set(at(time))
        scheduler.wakeup()
        await settle()
    assert recorder.fires.empty()
    recorder.block.clear()
    recorder.release.set()
    assert await recorder.next() == ScheduledFire("profile", at("00:45"), catch_up=False)
    await settle()
    assert recorder.fires.empty()
    assert scheduler.next_runs() == {"profile": at("01:00")}


def test_jobstore_urls() -> None:
    assert jobstore_url("var/site.sqlite3") == "sqlite:///var/site.sqlite3"
    assert jobstore_url("/var/site.sqlite3") == "sqlite:////var/site.sqlite3"
    assert jobstore_url("sqlite:///var/site.sqlite3") == "sqlite:///var/site.sqlite3"
    assert jobstore_url("postgresql://h@db/site") == "postgresql+psycopg://h@db/site"
    assert jobstore_url("postgresql+asyncpg://h@db/site") == "postgresql+psycopg://h@db/site"


async def test_the_job_store_on_postgresql_catches_up_a_missed_run(
    postgres_server, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.postgres_server import PASSWORD, PASSWORD_USER

    name = postgres_server.create_database()
    url = postgres_server.url(name, user=PASSWORD_USER, password=PASSWORD)
    clock = SimClock(at("00:01"), factor=0)
    recorder = Recorder(clock)
    plans = [plan("profile", "every 15 minutes")]
    started = Schedulers(url)
    caplog.set_level("DEBUG")
    try:
        first = started.start(clock, recorder, plans)
        assert first.next_runs() == {"profile": at("00:15")}
        await first.shutdown()

        clock.set(at("00:50"))
        second = started.start(clock, recorder, plans)
        assert await recorder.next() == ScheduledFire("profile", at("00:45"), catch_up=True)
        await settle()
        assert recorder.fires.empty()
        assert second.next_runs() == {"profile": at("01:00")}
        rows = postgres_server.psql("SELECT id FROM apscheduler_jobs", database=name)
        assert rows.split() == ["profile"]
    finally:
        await started.shutdown()
        postgres_server.drop_database(name)
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize("scheduler_first", [True, False])
async def test_the_job_store_shares_the_site_database_with_the_store(
    tmp_path: Path, scheduler_first: bool
) -> None:
    from headend.store.sqlite import SqliteStore

    path = tmp_path / "site.sqlite3"
    clock = SimClock(at("00:01"), factor=0)
    recorder = Recorder(clock)
    scheduler = PlanScheduler(str(path), clock, recorder)  # a bare path is SQLite
    if scheduler_first:
        scheduler.start([plan("profile", "every 15 minutes")])
    store = await SqliteStore.open(path)
    try:
        if not scheduler_first:
            scheduler.start([plan("profile", "every 15 minutes")])
        assert await store.count_readings() == 0
        clock.set(at("00:15"))
        scheduler.wakeup()
        assert await recorder.next() == ScheduledFire("profile", at("00:15"), catch_up=False)
        assert scheduler.next_runs() == {"profile": at("00:30")}
    finally:
        await scheduler.shutdown()
        await store.close()
    store = await SqliteStore.open(path)  # migrations still accept the file
    await store.close()
    assert job_rows(f"sqlite:///{path}") == ["profile"]


CHILD = """
import asyncio, sys
from datetime import datetime
from drivers.sim.clock import SimClock
from headend.config.fleet import ReadingPlan
from headend.service.scheduler import PlanScheduler

async def fire(name):
    print("fired", name, flush=True)
    await asyncio.Event().wait()  # a run that is still going when the process is killed

async def main():
    clock = SimClock(datetime.fromisoformat(sys.argv[2]), factor=0)
    scheduler = PlanScheduler(sys.argv[1], clock, fire)
    scheduler.start([ReadingPlan(name="profile", schedule="every 15 minutes")])
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_a_run_killed_with_sigkill_is_caught_up_once(tmp_path: Path, database: str) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        database,
        at("00:15").isoformat(),
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert child.stdout is not None
        async with asyncio.timeout(HANG_GUARD_S):
            line = await child.stdout.readline()
        assert line.decode().split() == ["fired", "profile"]
    finally:
        child.kill()
        await child.wait()

    clock = SimClock(at("00:20"), factor=0)
    recorder = Recorder(clock)
    scheduler = PlanScheduler(database, clock, recorder)
    try:
        scheduler.start([plan("profile", "every 15 minutes")])
        assert await recorder.next() == ScheduledFire("profile", at("00:15"), catch_up=True)
        await settle()
        assert recorder.fires.empty()
        assert scheduler.next_runs() == {"profile": at("00:30")}
    finally:
        await scheduler.shutdown()
