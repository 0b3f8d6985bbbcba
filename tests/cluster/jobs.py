"""Jobs for the cluster tests and a stand-in executor.

`ScriptedExecutor` stands in for the worker's job runner ONLY: it is not under test here (the
real InProcessExecutor, with drivers and the store, is the subject of the end-to-end tests).
It records the jobs it ran and returns reports a real executor could return: every meter ok,
or every meter failed with the breaker's "channel down".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from headend.config.fleet import ReadingPlan
from headend.reading.executor import Progress
from headend.reading.jobs import ChannelJob
from headend.reading.report import ChannelReport, MeterReport, MeterStatus

PLAN = ReadingPlan(name="daily", points=["1.0.1.8.0.255"])


def job(channel: str, meters: int = 2, *, lane: str = "bulk", concurrency: int = 1) -> ChannelJob:
    return ChannelJob(
        channel_id=channel,
        meter_ids=[f"{channel}-m{n}" for n in range(meters)],
        plan=PLAN,
        lane=lane,  # type: ignore[arg-type]
        concurrency=concurrency,
    )


def ok_report(job: ChannelJob) -> ChannelReport:
    return ChannelReport(
        job_id=job.job_id,
        channel_id=job.channel_id,
        meters=[
            MeterReport(
                meter_id=m, channel_id=job.channel_id, status=MeterStatus.OK, readings=1, stored=1
            )
            for m in job.meter_ids
        ],
    )


def down_report(job: ChannelJob) -> ChannelReport:
    return ChannelReport(
        job_id=job.job_id,
        channel_id=job.channel_id,
        meters=[
            MeterReport(
                meter_id=m,
                channel_id=job.channel_id,
                status=MeterStatus.FAILED,
                error="breaker open after 3 failures",
                cause="channel down",
            )
            for m in job.meter_ids
        ],
    )


class ScriptedExecutor:
    """Runs nothing: answers with `answer(job)`, after `gate` is set when one is given."""

    def __init__(
        self,
        answer: Callable[[ChannelJob], ChannelReport] = ok_report,
        gate: asyncio.Event | None = None,
    ) -> None:
        self.answer = answer
        self.gate = gate
        self.started: list[ChannelJob] = []
        self.finished: list[ChannelJob] = []
        self.running = asyncio.Event()

    async def run(self, job: ChannelJob, progress: Progress | None = None) -> ChannelReport:
        self.started.append(job)
        self.running.set()
        if self.gate is not None:
            await self.gate.wait()
        report = self.answer(job)
        self.finished.append(job)
        return report
