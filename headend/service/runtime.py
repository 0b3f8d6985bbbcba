"""`headend run`: the service that reads the fleet on schedules until it is stopped.

It puts together the scheduler (one job per plan with a schedule, persisted in the site
database), the collections (runs of plans over the shared channels), on-demand reads (served on
the priority lane, before queued bulk work of the same channel), the outbox forwarder, the DLMS
push listener and the control socket.

Runs are not lost to a crash: the scheduler keeps the fire time a run serves until it returns,
so a run cut short (the head-end killed during it) is due again at the next start, and runs missed
while the head-end was down are fired once (coalesced), as "catch-up". Once a run has finished,
its fire time is recorded as *done* for its plan (a monotonic counter in the store); a fire for a
time already done is skipped, so none runs twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from drivers.contract import Reading
from headend.config.fleet import ReadingPlan
from headend.config.loader import HeadendConfig
from headend.reading.channels import channel_registry
from headend.reading.executor import JobExecutor
from headend.reading.meter import SettingsResolver
from headend.reading.service import ReadingService
from headend.runs.model import RunStats, RunTrigger
from headend.service.clock import ServiceClock
from headend.service.collection import Collection
from headend.service.read_back import read_back
from headend.service.requests import ReadingRow, ReadRequest, ReadResult
from headend.service.schedule import latest_fire_time, parse_schedule
from headend.service.scheduler import current_fire
from headend.store.base import SaveResult, Store

LOG = logging.getLogger("headend.service")

# the latest fire time of each plan whose run finished (a monotonic counter in the store): a
# fire for a time already done is skipped, so no scheduled run is collected twice
_DONE = "plan-done:"


class RunInProgress(BaseModel):
    model_config = ConfigDict(frozen=True)

    plan: str
    trigger: RunTrigger
    scheduled_for: datetime | None
    started_at: datetime


class _Collector:
    """The sink of an on-demand read: keeps the readings for the answer and stores them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.readings: list[Reading] = []

    async def save_batch(self, readings: Sequence[Reading]) -> SaveResult:
        result = await self.store.save_batch(readings)
        self.readings.extend(readings)
        return result

    async def save_readings(self, readings: Sequence[Reading]) -> int:
        return (await self.save_batch(readings)).new


class HeadendService:
    """The collections and on-demand reads of one head-end process over one store."""

    def __init__(
        self,
        config: HeadendConfig,
        store: Store,
        clock: ServiceClock,
        *,
        resolve: SettingsResolver | None = None,
        executor: JobExecutor | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.channels = channel_registry(config.fleet)
        self.resolve = resolve
        # None: channel jobs run here; a scheduler's queue executor sends them to the workers
        self.executor = executor
        self.collection = Collection(
            config, store, self.channels, clock, resolve=resolve, executor=executor
        )
        self.in_progress: dict[tuple[str, datetime | None], RunInProgress] = {}
        self.started_at = datetime.now(UTC)
        self.completed: list[RunStats] = []
        self.on_run: list[Callable[[RunStats], Awaitable[None]]] = []

    # -- scheduled collections -----------------------------------------------------------------

    def scheduled_plans(self) -> list[ReadingPlan]:
        return [p for p in self.config.fleet.plans if p.schedule is not None]

    async def fire(self, plan_name: str) -> None:
        """The scheduler's callback: run the plan for the fire time it serves, unless done."""
        try:
            plan = self.config.fleet.plan(plan_name)
        except KeyError:
            LOG.warning("schedule fired for plan %s, which is no longer configured", plan_name)
            return
        fire = current_fire()
        trigger: RunTrigger = "schedule"
        if fire is not None:
            scheduled_for = fire.scheduled_for
            if fire.catch_up:
                trigger = "catch-up"
        else:
            assert plan.schedule is not None
            scheduled_for = latest_fire_time(parse_schedule(plan.schedule), self.clock.now())
        await self.run_scheduled(plan, scheduled_for, trigger)

    async def run_scheduled(
        self, plan: ReadingPlan, scheduled_for: datetime, trigger: RunTrigger
    ) -> RunStats | None:
        key = (plan.name, scheduled_for)
        stamp = int(scheduled_for.timestamp())
        if key in self.in_progress:
            LOG.info("plan %s for %s is already running", plan.name, scheduled_for.isoformat())
            return None
        done = await self.store.load_counter(_DONE + plan.name) or 0
        if done >= stamp:
            LOG.info("plan %s for %s was already collected", plan.name, scheduled_for.isoformat())
            return None
        stats = await self.run_plan(plan, trigger=trigger, scheduled_for=scheduled_for)
        await self.store.save_counter(_DONE + plan.name, stamp)
        return stats

    async def run_plan(
        self,
        plan: ReadingPlan,
        *,
        trigger: RunTrigger = "manual",
        scheduled_for: datetime | None = None,
        meter_ids: list[str] | None = None,
    ) -> RunStats:
        key = (plan.name, scheduled_for)
        self.in_progress[key] = RunInProgress(
            plan=plan.name,
            trigger=trigger,
            scheduled_for=scheduled_for,
            started_at=datetime.now(UTC),
        )
        try:
            result = await self.collection.run(
                plan, trigger=trigger, scheduled_for=scheduled_for, meter_ids=meter_ids
            )
        except asyncio.CancelledError:
            when = f" for {scheduled_for.isoformat()}" if scheduled_for else ""
            LOG.warning(
                "run %s%s cut short by the shutdown: what was read is stored%s",
                plan.name,
                when,
                "; it is caught up at the next start" if scheduled_for else "",
            )
            raise
        finally:
            del self.in_progress[key]
        stats = result.stats
        LOG.info(run_line(stats))
        self.completed.append(stats)
        del self.completed[:-100]
        for callback in self.on_run:
            await callback(stats)
        return stats

    # -- on-demand reads -----------------------------------------------------------------------

    async def read(self, request: ReadRequest) -> ReadResult:
        """Serve an on-demand read on the priority lane of the meters' channels."""
        fleet = self.config.fleet
        unknown = [m for m in request.meters if m not in fleet.index.meters]
        if unknown:
            return _refused(request, f"no meter(s) {', '.join(unknown[:10])} in the fleet")
        if request.plan is not None:
            try:
                plan = fleet.plan(request.plan)
            except KeyError:
                return _refused(request, f"no plan {request.plan!r}")
            if request.points:
                plan = plan.model_copy(update={"points": request.points})
            if request.profile is not None:
                plan = plan.model_copy(update={"profile": request.profile})
        else:
            plan = ReadingPlan(
                name="on-demand",
                points=request.points,
                profile=request.profile,
                skip_unsupported=not request.points,
            )
        now = self.clock.now()
        window = None
        if plan.profile is not None and (request.start or request.end):
            end = request.end or now
            window = (request.start or end - plan.profile_window, end)
        collector = _Collector(self.store)
        reading = ReadingService(
            self.config,
            collector,
            contacts=self.store,
            counters=self.store,
            channels=self.channels,
            resolve=self.resolve,
            executor=self.executor,
        )
        started = time.monotonic()
        began = datetime.now(UTC)
        report = await reading.run(plan, request.meters, now=now, window=window, lane="priority")
        if self.executor is not None:
            # run by a cluster's worker, which stored the readings: read back from the store
            collector.readings = await read_back(
                self.store,
                plan,
                report.meters,
                began=began,
                window=window or (now - plan.profile_window, now),
            )
        LOG.info(
            "on-demand read %s by %s: %d meters, %d ok, %d readings in %.1f s",
            request.correlation_id,
            request.requester or "?",
            len(report.meters),
            sum(1 for m in report.meters if m.status.value == "ok"),
            len(collector.readings),
            time.monotonic() - started,
        )
        return ReadResult(
            correlation_id=request.correlation_id,
            ok=report.all_ok,
            meters=report.meters,
            readings=[ReadingRow.of(r) for r in collector.readings],
        )

    # -- state ---------------------------------------------------------------------------------

    def channels_down(self) -> list[dict[str, Any]]:
        down: list[dict[str, Any]] = []
        for channel_id in sorted(self.config.fleet.index.channels):
            channel = self.channels.get(channel_id)
            refusal = channel.down() if channel is not None else None
            if refusal is not None:
                down.append({"channel": channel_id, "why": str(refusal)})
        return down


def run_line(stats: RunStats) -> str:
    """The one log line of a finished run."""
    causes = ", ".join(f"{n} {cause}" for cause, n in sorted(stats.failed_by_cause.items()))
    when = f" for {stats.scheduled_for.isoformat()}" if stats.scheduled_for else ""
    rate = stats.collected / stats.attempted if stats.attempted else 1.0
    return (
        f"run {stats.plan}{when} ({stats.trigger}): {stats.attempted} meters, {stats.ok} ok, "
        f"{stats.partial} partial, {stats.failed} failed{f' ({causes})' if causes else ''}, "
        f"{rate:.1%} collected, {stats.readings} readings ({stats.stored} new), "
        f"{stats.rereads} re-read rounds, {stats.duration_s:.1f} s"
    )


def _refused(request: ReadRequest, why: str) -> ReadResult:
    return ReadResult(correlation_id=request.correlation_id, ok=False, error=why)


async def cancel_all(tasks: Sequence[asyncio.Task[Any]], grace_s: float) -> None:
    """Give tasks `grace_s` to finish, then cancel them and wait for them to release."""
    pending = [t for t in tasks if not t.done()]
    if pending and grace_s > 0:
        await asyncio.wait(pending, timeout=grace_s)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
