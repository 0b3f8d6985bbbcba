"""The scheduler's executor: a channel job published to JetStream, its report awaited.

`QueueExecutor` implements the reading service's `JobExecutor`, so the scheduler role reuses the
reading service unchanged. It subscribes to the job's results subject before publishing (so the
report cannot slip past), publishes with the job id as the message id (JetStream stores a job
published twice, e.g. after a timeout on the publish acknowledgement, once), and, should a
report be missed while reconnecting, finds it in the results stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError

from headend.cluster import subjects
from headend.cluster.connection import Cluster
from headend.reading.executor import Progress
from headend.reading.jobs import ChannelJob
from headend.reading.report import ChannelReport

LOG = logging.getLogger(__name__)

_LOOK_BACK_S = 10.0  # how often a waiting scheduler also looks in the results stream


class JobTimeout(Exception):
    """No report for a published job within `job_timeout_s`."""


class QueueExecutor:
    def __init__(self, cluster: Cluster, *, timeout_s: float | None = None) -> None:
        self.cluster = cluster
        self.timeout_s = cluster.settings.job_timeout_s if timeout_s is None else timeout_s

    async def run(self, job: ChannelJob, progress: Progress | None = None) -> ChannelReport:
        subject = subjects.results(self.cluster.site, job.job_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        sub = await self.cluster.nc.subscribe(subject, max_msgs=1)
        try:
            await self._publish(job, deadline)
            report = await self._await_report(job, sub, subject, deadline)
        finally:
            with contextlib.suppress(NatsError):
                await sub.unsubscribe()
        if progress is not None:
            for meter in report.meters:
                progress(meter)
        return report

    async def _publish(self, job: ChannelJob, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self.cluster.js.publish(
                    subjects.jobs(self.cluster.site, job.lane),
                    job.model_dump_json().encode(),
                    stream=self.cluster.settings.stream,
                    headers={"Nats-Msg-Id": job.job_id},
                )
                return
            except (NatsError, TimeoutError) as exc:
                # NATS restarting: publish again (the message id makes a repeat harmless)
                if loop.time() >= deadline:
                    raise self._timeout(job, f"not published: {type(exc).__name__}") from None
                LOG.warning("publishing job %s: %s; again", job.job_id, type(exc).__name__)
                await asyncio.sleep(1.0)

    async def _await_report(
        self, job: ChannelJob, sub: Subscription, subject: str, deadline: float
    ) -> ChannelReport:
        loop = asyncio.get_running_loop()
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise self._timeout(job, "no report")
            try:
                msg = await sub.next_msg(timeout=min(left, _LOOK_BACK_S))
                return ChannelReport.model_validate_json(msg.data)
            except TimeoutError:
                pass
            except NatsError as exc:
                LOG.warning("awaiting job %s: %s", job.job_id, type(exc).__name__)
                await asyncio.sleep(min(1.0, max(left, 0.0)))
            stored = await self._stored(subject)
            if stored is not None:
                return stored

    async def _stored(self, subject: str) -> ChannelReport | None:
        try:
            msg = await self.cluster.js.get_last_msg(self.cluster.settings.results_stream, subject)
        except NotFoundError:
            return None
        except (NatsError, TimeoutError):
            return None
        return ChannelReport.model_validate_json(msg.data) if msg.data else None

    def _timeout(self, job: ChannelJob, what: str) -> JobTimeout:
        return JobTimeout(
            f"job {job.job_id} (channel {job.channel_id!r}, {len(job.meter_ids)} meters): "
            f"{what} within {self.timeout_s:g} s"
        )
