"""The scheduler's executor: a channel job published to JetStream, its report awaited.

`QueueExecutor` implements the reading service's `JobExecutor`, so the scheduler role reuses the
reading service unchanged. One wildcard subscription on the site's results subjects serves every
job in flight (thousands at once cost one subscription, not one each); a job's waiter is in place
before the job is published, so its report cannot slip past. The job id is the message id, so a
job published twice (a retry after a lost publish acknowledgement) is queued once. A report
missed while reconnecting is found in the results stream, which keeps each job's last report.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError
from pydantic import ValidationError

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
    def __init__(
        self,
        cluster: Cluster,
        *,
        timeout_s: float | None = None,
        look_back_s: float = _LOOK_BACK_S,
    ) -> None:
        self.cluster = cluster
        self.timeout_s = cluster.settings.job_timeout_s if timeout_s is None else timeout_s
        self.look_back_s = look_back_s
        self._waiting: dict[str, asyncio.Future[ChannelReport]] = {}  # by results subject
        self._sub: Subscription | None = None
        self._subscribing = asyncio.Lock()

    async def run(self, job: ChannelJob, progress: Progress | None = None) -> ChannelReport:
        subject = subjects.results(self.cluster.site, job.job_id)
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        await self._subscribe()
        waiter = self._waiting.setdefault(subject, asyncio.get_running_loop().create_future())
        try:
            await self._publish(job, deadline)
            report = await self._await_report(job, waiter, subject, deadline)
        finally:
            if self._waiting.get(subject) is waiter:
                del self._waiting[subject]
        if progress is not None:
            for meter in report.meters:
                progress(meter)
        return report

    async def close(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(NatsError):
                await sub.unsubscribe()

    async def _subscribe(self) -> None:
        async with self._subscribing:
            if self._sub is None:
                self._sub = await self.cluster.nc.subscribe(
                    subjects.all_results(self.cluster.site), cb=self._on_report
                )

    async def _on_report(self, msg: Msg) -> None:
        waiter = self._waiting.get(msg.subject)
        if waiter is None or waiter.done():
            return  # another scheduler's job, or one already answered
        try:
            waiter.set_result(ChannelReport.model_validate_json(msg.data))
        except ValidationError:
            LOG.error("unreadable report on %s", msg.subject)

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
                if self.cluster.nc.is_closed or loop.time() >= deadline:
                    raise self._timeout(job, f"not published ({type(exc).__name__})") from None
                LOG.warning("publishing job %s: %s; again", job.job_id, type(exc).__name__)
                await asyncio.sleep(1.0)

    async def _await_report(
        self,
        job: ChannelJob,
        waiter: asyncio.Future[ChannelReport],
        subject: str,
        deadline: float,
    ) -> ChannelReport:
        loop = asyncio.get_running_loop()
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise self._timeout(job, "no report")
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(waiter), min(left, self.look_back_s))
            stored = await self._stored(subject)
            if stored is not None:
                return stored

    async def _stored(self, subject: str) -> ChannelReport | None:
        try:
            msg = await self.cluster.js.get_last_msg(self.cluster.settings.results_stream, subject)
        except (NotFoundError, NatsError, TimeoutError):
            return None
        return ChannelReport.model_validate_json(msg.data) if msg.data else None

    def _timeout(self, job: ChannelJob, what: str) -> JobTimeout:
        return JobTimeout(
            f"job {job.job_id} (channel {job.channel_id!r}, {len(job.meter_ids)} meters): "
            f"{what} within {self.timeout_s:g} s"
        )
