"""The plan scheduler: APScheduler 3.11's AsyncIOScheduler with a persistent SQLAlchemy job store
in the site database, one job per scheduled plan, following the service clock (real or
simulated and accelerated).

* Persistence: the jobs live in the site database (table `apscheduler_jobs`), so a run missed
  while the head-end was down is still due at restart. Job defaults `coalesce=True`,
  `max_instances=1`, `misfire_grace_time=None`: however late, the missed runs of a plan are caught
  up by exactly one run, serving the latest missed fire time (`current_fire().catch_up`).
* A run cut short (the process killed or shut down mid-run) is caught up too: the job row notes
  the fire time it is serving until the run returns, and the next start makes that time due again.
* `start(plans)` writes one job per plan with a schedule (id = plan name) and removes the jobs of
  plans no longer configured. A job whose schedule is unchanged keeps its stored next run time.
* The job function is `run_plan`, a module-level textual reference (the job store pickles jobs);
  it calls the `fire(plan_name)` callback of the PlanScheduler whose scheduler submitted it.

The SQLAlchemy job store is synchronous and runs on the event loop: its calls are a handful of
tiny rows per fire (read the due jobs, update one row, the next run time), never per reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import apscheduler.schedulers.base as apscheduler_base
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_STOPPED

from headend.config.fleet import ReadingPlan
from headend.service.clock import ServiceClock
from headend.service.schedule import Schedule, latest_fire_time, parse_schedule

LOG = logging.getLogger("headend.scheduler")

JOB_FUNCTION = "headend.service.scheduler:run_plan"
SQLITE_BUSY_TIMEOUT_S = 10.0
"""How long a job-store write waits for the store's own write transaction to end (SQLite)."""

Fire = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ScheduledFire:
    """What the scheduled run being served is: readable from the `fire` callback through
    `current_fire()`."""

    plan: str
    scheduled_for: datetime  # the fire time served (the latest one, when several coalesced)
    catch_up: bool  # due before this scheduler started: missed while the head-end was down


_CURRENT_FIRE: ContextVar[ScheduledFire | None] = ContextVar("headend_fire", default=None)
# The clock of the PlanScheduler whose APScheduler code is running, and the PlanScheduler itself:
# set around the scheduler's own calls only, so no other APScheduler instance is affected. The
# executor starts job tasks inside that call, and a task copies the context it was created in:
# that is how `run_plan` finds its PlanScheduler without naming it in the persisted job.
_ACTIVE_CLOCK: ContextVar[ServiceClock | None] = ContextVar("headend_clock", default=None)
_OWNER: ContextVar[PlanScheduler | None] = ContextVar("headend_plan_scheduler", default=None)


def current_fire() -> ScheduledFire | None:
    """The scheduled run the calling `fire` callback serves (None outside one)."""
    return _CURRENT_FIRE.get()


async def run_plan(plan_name: str, in_flight: datetime | None = None) -> None:
    """The persisted jobs' function: hands the plan to the running PlanScheduler."""
    del in_flight  # bookkeeping for the next start, not for this run
    owner = _OWNER.get()
    if owner is None:
        LOG.warning("plan %s: a job fired outside a PlanScheduler; ignored", plan_name)
        return
    try:
        await owner.dispatch(plan_name)
    except asyncio.CancelledError:
        # A run cancelled by a shutdown is an expected end (its in-flight note stays, so the next
        # start catches it up). APScheduler's executor swallows it anyway, but logs it as a job
        # error with a traceback: end quietly instead.
        return


def jobstore_url(database: str) -> str:
    """The SQLAlchemy URL of the site database: `sqlite:///path` as given, a bare path as SQLite,
    `postgresql://...` through psycopg 3 (the store itself uses asyncpg)."""
    scheme, sep, rest = database.partition("://")
    if not sep:
        return f"sqlite:///{database}"
    base = scheme.split("+", 1)[0]
    if base in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    if base == "sqlite":
        return f"sqlite://{rest}"
    return database


class PlanScheduler:
    """Runs `fire(plan_name)` on each scheduled plan's fire times, by `clock`."""

    def __init__(self, database_url: str, clock: ServiceClock, fire: Fire) -> None:
        self.url = jobstore_url(database_url)
        self.clock = clock
        self._fire = fire
        self._scheduler: _ClockedScheduler | None = None
        self._schedules: dict[str, Schedule] = {}
        self._submitted: dict[str, datetime] = {}
        self._skipped: dict[str, datetime] = {}
        self._running: set[asyncio.Task[Any]] = set()
        self._started_at = clock.now()

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.state != STATE_STOPPED

    def start(self, plans: Iterable[ReadingPlan]) -> None:
        """Write the plans' jobs into the job store and start firing (in the running loop)."""
        if self.running:
            raise RuntimeError("the plan scheduler is already running")
        self._schedules = {
            plan.name: parse_schedule(plan.schedule) for plan in plans if plan.schedule is not None
        }
        factor = self.clock.factor
        scheduler = _ClockedScheduler(
            self,
            timezone=UTC,
            jobstores={"default": SQLAlchemyJobStore(url=self.url, **_engine_options(self.url))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            # in simulated seconds, like every time the scheduler computes: ~10 real seconds
            jobstore_retry_interval=10 * max(factor, 1.0),
        )
        scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES)
        # APScheduler logs two INFO lines per run ("Running job", "executed successfully"): the
        # service logs one line per run itself.
        if logging.getLogger("apscheduler").level == logging.NOTSET:
            logging.getLogger("apscheduler").setLevel(logging.WARNING)
        _quiet_max_instances()
        self._started_at = self.clock.now()
        scheduler.start(paused=True)  # job store open, nothing fires while the jobs are written
        self._scheduler = scheduler
        try:
            self._write_jobs(scheduler)
        except BaseException:
            scheduler.shutdown(wait=False)
            self._scheduler = None
            raise
        scheduler.resume()
        for name, when in sorted(self.next_runs().items()):
            LOG.info("plan %s: %s, next run %s", name, self._schedules[name].describe(), when)

    def _write_jobs(self, scheduler: _ClockedScheduler) -> None:
        now = self.clock.now()
        stored = {job.id: job for job in scheduler.get_jobs()}
        for name, schedule in self._schedules.items():
            trigger = schedule.trigger()
            old = stored.get(name)
            next_run: datetime | None = None
            if old is not None and old.name == schedule.describe():
                # unchanged: keep the stored time, so a run missed while down is still due...
                next_run = old.next_run_time
                # ...and a run cut short is due again (coalesced with any missed since)
                interrupted = old.kwargs.get("in_flight")
                if isinstance(interrupted, datetime) and next_run is not None:
                    next_run = min(next_run, interrupted)
            if next_run is None:  # a new plan or a new schedule: from the next fire time on
                next_run = trigger.get_next_fire_time(None, now)
            scheduler.add_job(
                JOB_FUNCTION,
                trigger=trigger,
                args=[name],
                id=name,
                name=schedule.describe(),
                replace_existing=True,
                next_run_time=next_run,
            )
        for job_id in stored.keys() - self._schedules.keys():
            scheduler.remove_job(job_id)
            LOG.info("plan %s: no longer configured, its schedule is removed", job_id)

    async def shutdown(self, *, wait: bool = False, grace_s: float = 0.0) -> None:
        """Stop firing. Runs in progress get `grace_s` to finish (all the time they need with
        `wait`), then are cancelled (and caught up at the next start)."""
        scheduler = self._scheduler
        if scheduler is None or scheduler.state == STATE_STOPPED:
            return
        scheduler.pause()
        # a run submitted a moment ago starts (and notes what it serves) before anything waits
        # for it or cancels it: cancelled before its first step, it would be lost
        await _next_loop_turn()
        if wait:
            await asyncio.gather(*self._others(), return_exceptions=True)
        elif grace_s > 0 and self._others():
            await asyncio.wait(self._others(), timeout=grace_s)
        scheduler.shutdown(wait=False)
        # AsyncIOScheduler.shutdown only queues the work on the loop: let it run, then let the
        # cancelled runs unwind.
        await _next_loop_turn()
        await asyncio.gather(*self._others(), return_exceptions=True)
        self._scheduler = None

    def _others(self) -> list[asyncio.Task[Any]]:
        # A fire callback may shut the scheduler down: it must not wait for itself.
        return [task for task in self._running if task is not asyncio.current_task()]

    def next_runs(self) -> dict[str, datetime]:
        """Each scheduled plan's next fire time (from the job store), for `headend status`."""
        if self._scheduler is None:
            return {}
        return {
            job.id: job.next_run_time.astimezone(UTC)
            for job in self._scheduler.get_jobs()
            if job.next_run_time is not None
        }

    def wakeup(self) -> None:
        """Look at the jobs now: after moving a clock by hand (a frozen or advanced SimClock)."""
        if self._scheduler is not None and self._scheduler.state != STATE_STOPPED:
            self._scheduler.wakeup()

    async def dispatch(self, plan_name: str) -> None:
        """Serve one fire of `plan_name` (called by `run_plan`)."""
        schedule = self._schedules.get(plan_name)
        if schedule is None:
            LOG.warning("plan %s: fired but not scheduled here; ignored", plan_name)
            return
        scheduled = self._submitted.pop(plan_name, None)
        if scheduled is None:  # not seen at submission (cannot happen with the listener)
            scheduled = latest_fire_time(schedule, self.clock.now())
        fire = ScheduledFire(plan_name, scheduled, catch_up=scheduled < self._started_at)
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
            # after the executor's own callback (added first), which ends the run's instance
            task.add_done_callback(lambda _: self._after_run(plan_name))
        token = _CURRENT_FIRE.set(fire)
        self._note_in_flight(plan_name, scheduled)
        try:
            await self._fire(plan_name)
        except asyncio.CancelledError:
            raise  # the note stays: the next start catches this run up
        except Exception:
            LOG.exception("plan %s: the run for %s failed", plan_name, scheduled.isoformat())
        finally:
            _CURRENT_FIRE.reset(token)
            if task is not None:
                self._running.discard(task)
        self._note_in_flight(plan_name, None)

    def _note_in_flight(self, plan_name: str, scheduled: datetime | None) -> None:
        # One small row update at the start and end of a run (synchronous, see the docstring).
        scheduler = self._scheduler
        if scheduler is None or scheduler.state == STATE_STOPPED:
            return
        kwargs = {} if scheduled is None else {"in_flight": scheduled}
        with contextlib.suppress(JobLookupError):  # the plan was removed meanwhile
            scheduler.modify_job(plan_name, kwargs=kwargs)

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        # Dispatched right after the executor created the run's task and before it starts: the
        # fire time it serves (the latest of those coalesced) is known only here.
        if not event.scheduled_run_times:
            return
        latest = event.scheduled_run_times[-1].astimezone(UTC)
        if event.code == EVENT_JOB_MAX_INSTANCES:
            # APScheduler drops a fire that comes while the plan's previous run still goes on;
            # it is made due again when that run ends (one run for all such fires)
            self._skipped[event.job_id] = latest
        else:
            self._submitted[event.job_id] = latest

    def _after_run(self, plan_name: str) -> None:
        skipped = self._skipped.pop(plan_name, None)
        scheduler = self._scheduler
        if skipped is None or scheduler is None or scheduler.state == STATE_STOPPED:
            return
        LOG.info("plan %s: the run for %s waited for the previous one", plan_name, skipped)
        with contextlib.suppress(JobLookupError):
            scheduler.modify_job(plan_name, next_run_time=skipped)  # due now: wakes it up


class _MaxInstancesFilter(logging.Filter):
    """Drops APScheduler's warning for a fire that came while the plan's previous run still
    went on: here that is expected and handled (the fire runs once that run ends, with a line of
    ours saying so), and the warning would be a long third-party line per occurrence."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


def _quiet_max_instances() -> None:
    target = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _MaxInstancesFilter) for f in target.filters):
        target.addFilter(_MaxInstancesFilter())


class _ClockedDatetime(datetime):
    """Stands in for `datetime` inside apscheduler.schedulers.base, which uses it only for
    `datetime.now(self.timezone)`: the current time of the PlanScheduler whose code is running,
    else the real time."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        clock = _ACTIVE_CLOCK.get()
        if clock is None:
            return datetime.now(tz)
        return clock.now().astimezone(tz)


class _ClockedScheduler(AsyncIOScheduler):  # type: ignore[misc]
    """AsyncIOScheduler on the service clock.

    APScheduler 3 reads the time with `datetime.now(self.timezone)` in schedulers/base.py (when
    adding a job and in `_process_jobs`) and waits in real seconds (`loop.call_later` in
    `_start_timer`). To follow a simulated, accelerated clock, the time it reads comes from the
    clock, and its waits (simulated seconds) are divided by the clock's factor. The narrowest
    patch that does it without copying `_process_jobs`: that module's `datetime` name becomes
    `_ClockedDatetime`, whose `now()` is the real time unless one of our schedulers has set its
    clock for the call in progress. A frozen clock (factor 0) sets no timer: whoever moves it
    calls `wakeup()`.
    """

    def __init__(self, owner: PlanScheduler, **options: Any) -> None:
        super().__init__(**options)
        self._owner = owner

    def _process_jobs(self) -> float | None:
        if self.state == STATE_STOPPED:  # a wakeup queued before shutdown
            return None
        clock_token = _ACTIVE_CLOCK.set(self._owner.clock)
        owner_token = _OWNER.set(self._owner)
        try:
            wait: float | None = super()._process_jobs()
            return wait
        finally:
            _OWNER.reset(owner_token)
            _ACTIVE_CLOCK.reset(clock_token)

    def _real_add_job(self, job: Any, jobstore_alias: str, replace_existing: bool) -> None:
        token = _ACTIVE_CLOCK.set(self._owner.clock)
        try:
            super()._real_add_job(job, jobstore_alias, replace_existing)
        finally:
            _ACTIVE_CLOCK.reset(token)

    def _start_timer(self, wait_seconds: float | None) -> None:
        if self.state == STATE_STOPPED:
            return
        if wait_seconds is not None:
            factor = self._owner.clock.factor
            wait_seconds = wait_seconds / factor if factor > 0 else None
        super()._start_timer(wait_seconds)


def _install_clocked_datetime() -> None:
    if apscheduler_base.datetime is datetime:
        apscheduler_base.datetime = _ClockedDatetime  # type: ignore[misc]


_install_clocked_datetime()


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # The store writes to the same file: a job-store write waits for its transaction to end.
        return {"engine_options": {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}}
    return {}


async def _next_loop_turn() -> None:
    """Return after the callbacks already queued on the loop have run (FIFO)."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.call_soon(done.set_result, None)
    await done
