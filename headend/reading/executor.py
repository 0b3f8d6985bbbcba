"""Executors run channel jobs. The in-process one runs them on this event loop.

The interface is one coroutine, `run(job, progress)`, so a queue-backed executor (jobs sent to
other head-end nodes) can replace it without touching the reading service.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from drivers.contract import CounterStore, Point
from headend.reading.jobs import ChannelJob
from headend.reading.meter import SettingsResolver, read_meter
from headend.reading.report import ChannelReport, MeterReport
from headend.store.base import ContactLog, ReadingSink

Progress = Callable[[MeterReport], None]
"""Called once per meter as soon as its outcome is known."""


class JobExecutor(Protocol):
    async def run(self, job: ChannelJob, progress: Progress | None = None) -> ChannelReport: ...


class InProcessExecutor:
    """Runs a job's meters on this loop, at most `job.concurrency` sessions at once."""

    def __init__(
        self,
        resolve: SettingsResolver,
        sink: ReadingSink,
        *,
        contacts: ContactLog | None = None,
        counters: CounterStore | None = None,
    ) -> None:
        self._resolve = resolve
        self._sink = sink
        self._contacts = contacts
        self._counters = counters

    async def run(self, job: ChannelJob, progress: Progress | None = None) -> ChannelReport:
        gate = asyncio.Semaphore(job.concurrency)
        points = [Point(obis=obis) for obis in job.plan.points]
        window = (
            (job.profile_start, job.profile_end)
            if job.profile_start is not None and job.profile_end is not None
            else None
        )

        async def one(meter_id: str) -> MeterReport:
            async with gate:
                report = await read_meter(
                    meter_id,
                    job.channel_id,
                    plan=job.plan,
                    points=points,
                    window=window,
                    policy=job.policy,
                    resolve=self._resolve,
                    sink=self._sink,
                    contacts=self._contacts,
                    counters=self._counters,
                )
            if progress is not None:
                progress(report)
            return report

        reports = await asyncio.gather(*(one(m) for m in job.meter_ids))
        return ChannelReport(job_id=job.job_id, channel_id=job.channel_id, meters=list(reports))
