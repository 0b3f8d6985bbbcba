"""One collection: a plan run over the fleet, with gap-aware profile windows, re-reads of the
meters that failed, events for what could not be collected, and the run's statistics.

* Gap-aware windows: a meter's profile read starts after the last capture stored for it (its
  *profile mark*), bounded by the plan's horizon, so an outage longer than the plan's window is
  filled by the next run. A meter never read starts `profile_window` before now.
* Re-reads: after the first pass, meters that failed (or read only part of the plan) are read
  again `plan.rereads` times, `plan.reread_spacing` apart, asking only for what is missing.
  Refusals a retry cannot change (authentication, unsupported, a config problem) are not re-read.
* Events: a meter still failing gets a "collection failed" event with the cause (an
  authentication failure and a detected replay get their own codes); a channel whose every meter
  failed as "channel down" gets one "channel down" event; conflicting readings get an event.
* Statistics: each meter counted once by its final outcome (`RunStats`), stored with the run.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from drivers.channel import ChannelRegistry, Lane
from drivers.contract import MeterEvent
from headend.config.fleet import ReadingPlan
from headend.config.loader import HeadendConfig
from headend.config.settings import meter_settings
from headend.events.model import Event, EventOrigin, HeadendEvent
from headend.reading.executor import JobExecutor
from headend.reading.meter import SettingsResolver
from headend.reading.report import MeterReport, MeterStatus, PointFailure, RunReport
from headend.reading.service import ReadingService
from headend.runs.model import RunStats, RunTrigger
from headend.service.clock import ServiceClock
from headend.service.clock_check import ClockWatch, check_clocks, synchronise
from headend.service.tap import ReadingTap
from headend.store.base import Store

LOG = logging.getLogger("headend.service")

# causes a re-read cannot change (see headend.reading.meter.FINAL_ERRORS)
NOT_REREAD = frozenset({"authentication failed", "unsupported", "object unavailable", "config"})

# the profile mark key under which the time of each meter's latest event log entry is kept
EVENTS_MARK = "event-logs"

# A gap-filling profile read starts just after the last stored capture: profile rows are a
# capture period apart, so none is missed, and the last one is not read (and decoded) again.
# An event log read starts AT its last stored entry: several events may share a second, so that
# entry comes again and is stored once, while one logged in the same second is not missed.
_AFTER_MARK = timedelta(seconds=1)

_EVENT_FOR_CAUSE = {
    "authentication failed": HeadendEvent.AUTHENTICATION_FAILED,
    "replay detected": HeadendEvent.REPLAY_DETECTED,
}


class CollectionResult:
    """What a collection did: its statistics and each meter's final report."""

    def __init__(self, stats: RunStats, meters: list[MeterReport]) -> None:
        self.stats = stats
        self.meters = meters


class Collection:
    """Runs plans over the service's channels (shared with every other run and on-demand read,
    so they share turns and breakers) and records what happened."""

    def __init__(
        self,
        config: HeadendConfig,
        store: Store,
        channels: ChannelRegistry,
        clock: ServiceClock,
        *,
        resolve: SettingsResolver | None = None,
        requester: str = "scheduler",
        executor: JobExecutor | None = None,
    ) -> None:
        self.config = config
        # None: jobs run in this process; a cluster's scheduler gives the queue's executor
        self.executor = executor
        self.store = store
        self.channels = channels
        self.clock = clock
        self.resolve = resolve or (lambda meter_id: meter_settings(config, meter_id))
        self.requester = requester

    def reading_service(self, sink: ReadingTap) -> ReadingService:
        return ReadingService(
            self.config,
            sink,
            contacts=self.store,
            counters=self.store,
            channels=self.channels,
            resolve=self.resolve,
            events=self._store_events,
            executor=self.executor,
        )

    async def _store_events(self, channel_id: str, events: list[MeterEvent]) -> None:
        received = datetime.now(UTC)
        await self.store.save_events(
            [Event.of_meter(e, channel_id=channel_id, received_at=received) for e in events]
        )

    async def run(
        self,
        plan: ReadingPlan,
        *,
        trigger: RunTrigger = "manual",
        scheduled_for: datetime | None = None,
        meter_ids: list[str] | None = None,
        lane: Lane = "bulk",
    ) -> CollectionResult:
        now = self.clock.now()
        started = time.monotonic()
        run_id = f"{plan.name}-{(scheduled_for or now):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        fleet = self.config.fleet
        ids = meter_ids if meter_ids is not None else [m.id for m in fleet.meters]
        starts = await self._profile_starts(plan, ids, now)
        event_starts = await self._event_starts(plan, ids, now)
        tap = ReadingTap(self.store)
        clocks = ClockWatch(self.clock)
        if plan.clock_sync_beyond_s is not None:
            tap.watch(clocks.observe)
        reading = self.reading_service(tap)
        first = await reading.run(
            plan,
            ids,
            now=now,
            lane=lane,
            profile_starts=starts or None,
            event_starts=event_starts or None,
        )
        finals = {m.meter_id: m for m in first.meters}
        rounds = 0
        for _ in range(plan.rereads):
            pending = [m for m in finals.values() if _needs_reread(m)]
            if not pending:
                break
            rounds += 1
            await self.clock.sleep(plan.reread_spacing.total_seconds())
            for again, asked in await self._reread(reading, plan, pending, lane):
                finals[again.meter_id] = _merge(finals[again.meter_id], again, asked)
        meters = [finals[m.meter_id] for m in first.meters]
        await self._mark_profiles(plan, meters)
        events = _events(plan, run_id, meters, self.clock.now())
        if plan.clock_sync_beyond_s is not None:
            events += await check_clocks(
                clocks,
                plan.clock_sync_beyond_s,
                synchronise=lambda meter_id: synchronise(
                    self.config, self.channels, self.store, self.resolve, meter_id, self.clock
                ),
                requester=f"{self.requester}:{plan.name}",
                source=run_id,
            )
        duration = time.monotonic() - started
        stats = _stats(run_id, plan, trigger, scheduled_for, first, meters, rounds, duration)
        await self.store.save_events(events)
        await self.store.save_run(stats)
        return CollectionResult(stats, meters)

    async def _profile_starts(
        self, plan: ReadingPlan, meter_ids: list[str], now: datetime
    ) -> dict[str, datetime]:
        if plan.profile is None or not plan.gap_fill or not meter_ids:
            return {}
        marks = await self.store.profile_marks(plan.profile, meter_ids)
        floor = now - plan.horizon
        default_start = now - plan.profile_window
        starts: dict[str, datetime] = {}
        for meter_id, mark in marks.items():
            start = max(mark + _AFTER_MARK, floor)
            if start != default_start:
                # a start after `now` (a mark from a meter clock ahead of ours) asks for nothing
                starts[meter_id] = min(start, now)
        return starts

    async def _event_starts(
        self, plan: ReadingPlan, meter_ids: list[str], now: datetime
    ) -> dict[str, datetime]:
        if not plan.event_logs or not meter_ids:
            return {}
        marks = await self.store.profile_marks(EVENTS_MARK, meter_ids)
        floor = now - plan.horizon
        return {m: min(max(mark, floor), now) for m, mark in marks.items()}

    async def _reread(
        self, reading: ReadingService, plan: ReadingPlan, pending: list[MeterReport], lane: Lane
    ) -> list[tuple[MeterReport, set[str]]]:
        """Read again only what each meter is missing (not what it refused for good); meters
        missing the same are read together. Returns each report with the OBIS codes asked."""
        groups: dict[tuple[tuple[str, ...], bool, tuple[str, ...]], list[str]] = {}
        for report in pending:
            missing = {f.obis for f in report.failures if not _refused(f)}
            points = tuple(p for p in plan.points if p in missing)
            profile = plan.profile is not None and plan.profile in missing
            logs = tuple(log for log in plan.event_logs if log in missing)
            if report.status is MeterStatus.FAILED and not missing:
                points, profile = tuple(plan.points), plan.profile is not None
                logs = tuple(plan.event_logs)
            groups.setdefault((points, profile, logs), []).append(report.meter_id)
        now = self.clock.now()
        reports: list[tuple[MeterReport, set[str]]] = []
        for (points, profile, logs), ids in groups.items():
            if not points and not profile:
                # nothing left to ask (a plan of the standard register set is whole), or only
                # event logs, which the next run reads from their mark anyway
                continue
            subplan = plan.model_copy(
                update={
                    "points": list(points),
                    "profile": plan.profile if profile else None,
                    "event_logs": list(logs),
                }
            )
            run = await reading.run(
                subplan,
                ids,
                now=now,
                lane=lane,
                profile_starts=await self._profile_starts(subplan, ids, now) or None,
                event_starts=await self._event_starts(subplan, ids, now) or None,
            )
            asked = set(points) | set(logs)
            if profile and plan.profile:
                asked.add(plan.profile)
            reports.extend((m, asked) for m in run.meters)
        return reports

    async def _mark_profiles(self, plan: ReadingPlan, meters: list[MeterReport]) -> None:
        if plan.profile is not None:
            marks = {m.meter_id: m.last_capture for m in meters if m.last_capture is not None}
            if marks:
                await self.store.mark_profiles(plan.profile, marks)
        if plan.event_logs:
            events = {m.meter_id: m.last_event for m in meters if m.last_event is not None}
            if events:
                await self.store.mark_profiles(EVENTS_MARK, events)


def _needs_reread(report: MeterReport) -> bool:
    if report.status is MeterStatus.OK:
        return False
    if report.cause in NOT_REREAD:
        return False
    if report.status is MeterStatus.PARTIAL and not report.failures:
        return False
    return True


def _refused(failure: PointFailure) -> bool:
    return failure.reason.split(":", 1)[0] in NOT_REREAD


def _merge(before: MeterReport, again: MeterReport, asked: set[str]) -> MeterReport:
    """The meter's outcome after a re-read: what the re-read still misses, plus failures of the
    first pass that were not asked again (refusals)."""
    kept = [f for f in before.failures if f.obis not in asked]
    failures: list[PointFailure] = kept + list(again.failures)
    readings = before.readings + again.readings
    if not failures and again.status is not MeterStatus.FAILED:
        status = MeterStatus.OK
    elif readings:
        status = MeterStatus.PARTIAL
    else:
        status = MeterStatus.FAILED
    last = max(
        (t for t in (before.last_capture, again.last_capture) if t is not None), default=None
    )
    return before.model_copy(
        update={
            "status": status,
            "readings": readings,
            "stored": before.stored + again.stored,
            "conflicts": before.conflicts + again.conflicts,
            "attempts": before.attempts + again.attempts,
            "failures": failures,
            "error": again.error,
            "cause": again.cause,
            "duration_s": before.duration_s + again.duration_s,
            "last_capture": last,
        }
    )


def _stats(
    run_id: str,
    plan: ReadingPlan,
    trigger: RunTrigger,
    scheduled_for: datetime | None,
    first: RunReport,
    meters: list[MeterReport],
    rounds: int,
    duration_s: float,
) -> RunStats:
    status = Counter(m.status for m in meters)
    causes = Counter(m.cause or "error" for m in meters if m.status is MeterStatus.FAILED)
    return RunStats(
        run_id=run_id,
        plan=plan.name,
        trigger=trigger,
        scheduled_for=scheduled_for,
        started_at=first.started_at,
        duration_s=duration_s,
        attempted=len(meters),
        ok=status[MeterStatus.OK],
        partial=status[MeterStatus.PARTIAL],
        failed=status[MeterStatus.FAILED],
        failed_by_cause=dict(causes),
        rereads=rounds,
        readings=sum(m.readings for m in meters),
        stored=sum(m.stored for m in meters),
    )


def _events(
    plan: ReadingPlan, run_id: str, meters: list[MeterReport], now: datetime
) -> list[Event]:
    events: list[Event] = []
    by_channel: dict[str, list[MeterReport]] = {}
    for m in meters:
        by_channel.setdefault(m.channel_id, []).append(m)
    down = {
        channel
        for channel, reports in by_channel.items()
        if all(r.status is MeterStatus.FAILED and r.cause == "channel down" for r in reports)
    }
    for channel in sorted(down):
        count = len(by_channel[channel])
        events.append(
            _headend_event(
                HeadendEvent.CHANNEL_DOWN,
                "channel_down",
                f"channel {channel} down during plan {plan.name}: {count} meters not collected",
                now,
                run_id,
                channel_id=channel,
                cause="channel down",
            )
        )
    for m in meters:
        if m.status is MeterStatus.FAILED:
            code = _EVENT_FOR_CAUSE.get(m.cause or "", HeadendEvent.COLLECTION_FAILED)
            events.append(
                _headend_event(
                    code,
                    code.name.lower(),
                    f"meter {m.meter_id} not collected by plan {plan.name}: {m.error}",
                    now,
                    run_id,
                    meter_id=m.meter_id,
                    channel_id=m.channel_id,
                    cause=m.cause,
                )
            )
        if m.conflicts:
            events.append(
                _headend_event(
                    HeadendEvent.READING_CONFLICT,
                    "reading_conflict",
                    f"meter {m.meter_id}: {m.conflicts} readings conflict with stored values "
                    "(kept apart)",
                    now,
                    run_id,
                    meter_id=m.meter_id,
                    channel_id=m.channel_id,
                )
            )
    return events


def _headend_event(
    code: HeadendEvent,
    name: str,
    text: str,
    now: datetime,
    run_id: str,
    *,
    meter_id: str | None = None,
    channel_id: str | None = None,
    cause: str | None = None,
) -> Event:
    return Event(
        origin=EventOrigin.HEADEND,
        meter_id=meter_id,
        channel_id=channel_id,
        code=int(code),
        name=name,
        text=text,
        time=now,
        received_at=now,
        source=run_id,
        cause=cause,
    )
