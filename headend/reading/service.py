"""The reading service: run a plan over the fleet, channel jobs in parallel (bounded).

Meters are grouped by channel (`jobs.plan_jobs`); a half-duplex channel serves one meter at a
time, a TCP channel up to its connection limit, and up to `policy.max_channels` channels run at
once. Failures are per meter and end up in the `RunReport`; nothing here raises for a meter.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from drivers.contract import CounterStore
from headend.config.fleet import ReadingPlan
from headend.config.loader import HeadendConfig
from headend.config.settings import meter_settings
from headend.reading.executor import InProcessExecutor, JobExecutor, Progress
from headend.reading.jobs import ChannelJob, plan_jobs
from headend.reading.meter import SettingsResolver
from headend.reading.report import MeterReport, RunReport
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
    ) -> None:
        self.config = config
        self.executor = executor or InProcessExecutor(
            resolve or (lambda meter_id: meter_settings(config, meter_id)),
            sink,
            contacts=contacts,
            counters=counters,
        )

    def jobs(
        self,
        plan: ReadingPlan,
        meter_ids: list[str] | None = None,
        now: datetime | None = None,
        window: tuple[datetime, datetime] | None = None,
    ) -> list[ChannelJob]:
        return plan_jobs(self.config.fleet, plan, meter_ids, now=now, window=window)

    async def run(
        self,
        plan: ReadingPlan,
        meter_ids: list[str] | None = None,
        *,
        progress: Progress | None = None,
        now: datetime | None = None,
        window: tuple[datetime, datetime] | None = None,
    ) -> RunReport:
        started_at = datetime.now(UTC)
        started = time.monotonic()
        jobs = self.jobs(plan, meter_ids, now, window)
        gate = asyncio.Semaphore(self.config.fleet.reading.max_channels)

        async def one(job: ChannelJob) -> list[MeterReport]:
            async with gate:
                return (await self.executor.run(job, progress)).meters

        per_job = await asyncio.gather(*(one(job) for job in jobs))
        order = {m: i for i, m in enumerate(m for job in jobs for m in job.meter_ids)}
        meters = sorted(
            (m for reports in per_job for m in reports), key=lambda m: order[m.meter_id]
        )
        return RunReport(
            plan=plan.name,
            started_at=started_at,
            duration_s=time.monotonic() - started,
            meters=meters,
        )
