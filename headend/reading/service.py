"""The reading service: run a plan over the fleet, channel jobs in parallel, through channels.

Meters are grouped by channel (`jobs.plan_jobs`). Each job's meters queue on their channel
(`executor.run_queue`): a half-duplex channel serves one session at a time, a TCP endpoint up to
its connection limit, a segment bounds its channels together, and `reading.max_sessions` bounds
the sessions in flight in the whole process (lowered to what the open-files limit allows, which
is raised at start). `reading.max_channels` bounds the channel jobs in progress at once.
The service owns its `ChannelRegistry`, so two runs on one service (a bulk plan and an on-demand
read, `lane="priority"`) share the channels' turns and breakers.

Failures are per meter and end up in the `RunReport`; nothing here raises for a meter. A store
that fails is different: readings are kept (`unsaved`) and retried, and if the store still fails
at the end of the run, `run` raises `RunFailed`.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from drivers.channel import ChannelRegistry, Lane
from drivers.contract import CounterStore, Reading
from headend.config.fleet import ReadingPlan
from headend.config.loader import HeadendConfig
from headend.config.settings import meter_settings
from headend.reading.channels import channel_registry, channel_spec
from headend.reading.executor import InProcessExecutor, JobExecutor, Progress
from headend.reading.jobs import ChannelJob, plan_jobs
from headend.reading.meter import SettingsResolver
from headend.reading.report import MeterReport, RunReport
from headend.reading.saving import EventSink, RunFailed, Saver
from headend.store.base import ContactLog, ReadingSink


class ReadingService:
    def __init__(
        self,
        config: HeadendConfig,
        sink: ReadingSink,
        *,
        contacts: ContactLog | None = None,
        counters: CounterStore | None = None,
        executor: JobExecutor | None = None,
        resolve: SettingsResolver | None = None,
        channels: ChannelRegistry | None = None,
        events: EventSink | None = None,
    ) -> None:
        self.config = config
        fleet = config.fleet
        self.channels = channels or channel_registry(fleet)
        self.saver = Saver(sink, events)
        self.executor = executor or InProcessExecutor(
            resolve or (lambda meter_id: meter_settings(config, meter_id)),
            sink,
            contacts=contacts,
            counters=counters,
            channels=self.channels,
            channel_spec=lambda job: channel_spec(fleet, job.channel_id),
            saver=self.saver,
        )

    @property
    def unsaved(self) -> list[Reading]:
        """Readings read but not yet stored (the store failed); retried at the next save."""
        return self.saver.unsaved

    def jobs(
        self,
        plan: ReadingPlan,
        meter_ids: list[str] | None = None,
        now: datetime | None = None,
        window: tuple[datetime, datetime] | None = None,
        lane: Lane = "bulk",
        profile_starts: dict[str, datetime] | None = None,
        event_starts: dict[str, datetime] | None = None,
    ) -> list[ChannelJob]:
        return plan_jobs(
            self.config.fleet,
            plan,
            meter_ids,
            now=now,
            window=window,
            lane=lane,
            profile_starts=profile_starts,
            event_starts=event_starts,
        )

    async def run(
        self,
        plan: ReadingPlan,
        meter_ids: list[str] | None = None,
        *,
        progress: Progress | None = None,
        now: datetime | None = None,
        window: tuple[datetime, datetime] | None = None,
        lane: Lane = "bulk",
        profile_starts: dict[str, datetime] | None = None,
        event_starts: dict[str, datetime] | None = None,
    ) -> RunReport:
        started_at = datetime.now(UTC)
        started = time.monotonic()
        jobs = self.jobs(plan, meter_ids, now, window, lane, profile_starts, event_starts)
        gate = asyncio.Semaphore(self.config.fleet.reading.max_channels)

        async def one(job: ChannelJob) -> list[MeterReport]:
            async with gate:
                return (await self.executor.run(job, progress)).meters

        per_job = await asyncio.gather(*(one(job) for job in jobs))
        order = {m: i for i, m in enumerate(m for job in jobs for m in job.meter_ids)}
        meters = sorted(
            (m for reports in per_job for m in reports), key=lambda m: order[m.meter_id]
        )
        report = RunReport(
            plan=plan.name,
            started_at=started_at,
            duration_s=time.monotonic() - started,
            meters=meters,
        )
        if not await self.saver.flush():
            spool = self.saver.spool()
            kept = len(self.saver.unsaved)
            where = f"; written to {spool}" if spool else ""
            raise RunFailed(
                f"the store failed ({self.saver.last_error}): {kept} readings are kept "
                f"in memory for a retry{where}",
                kept=kept,
                spool=spool,
                report=report,
            )
        return report
