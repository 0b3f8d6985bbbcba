"""A cluster worker: pulls channel jobs from JetStream, runs them, settles them.

Per job: parse it (unreadable: dead letter at once), take the channel's lease if it is
half-duplex, keep telling JetStream the job is in progress (so `ack_wait` can be shorter than a
job), run it with the executor (whose Saver commits readings before `run` returns), then:
done -> publish the report, ack; failed at the channel level -> nak with a backoff, or on the
last delivery dead-letter it, tell `on_dead_letter`, publish a failed report, ack.

Lanes: each lane has its own pull loop and its own slots (`concurrency` for bulk,
`priority_concurrency` for priority), so queued or running bulk jobs never hold a priority job
back: it is fetched as soon as it is published and a priority slot is free.

A busy channel (its lease held elsewhere) is waited for up to one lease TTL (a dead holder's
lease expires within it) while the job is kept in progress; still busy, the job is nak'ed with
the backoff. JetStream counts that delivery like any other, so a busy channel counts toward
`max_deliver`: the budget (deliveries x (TTL + backoff)) must cover the longest job expected on
one channel, or the job ends as a dead letter saying the channel stayed busy.

Crash safety is JetStream's: a job not acknowledged is redelivered after `ack_wait`. The
consumer allows one delivery beyond `max_deliver` for a worker lost during the last attempt:
that delivery dead-letters the job without running it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from pydantic import ValidationError

from headend.cluster import policy, subjects
from headend.cluster.connection import Cluster, ClusterError
from headend.cluster.dead_letters import DeadLetter, publish_dead_letter
from headend.cluster.heartbeats import HeldJob, WorkerBeat, beating
from headend.cluster.leases import ChannelLeases, LeaseBusy, LeaseLost
from headend.cluster.subjects import Lane
from headend.reading.executor import JobExecutor
from headend.reading.jobs import ChannelJob
from headend.reading.report import ChannelReport

LOG = logging.getLogger(__name__)

OnDeadLetter = Callable[[ChannelJob, str], Awaitable[None]]
_RAW_KEPT = 2000  # characters of an unreadable message kept in its dead letter


def _closed_or_cancelled(cluster: Cluster) -> None:
    """Raise if a NATS error is the end: nats-py turns a cancellation into ConnectionClosedError
    when the connection is closed, and a closed connection never comes back."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    if cluster.nc.is_closed:
        raise ClusterError("the NATS connection is closed")


class ClusterWorker:
    def __init__(
        self,
        cluster: Cluster,
        executor: JobExecutor,
        *,
        worker_id: str | None = None,
        on_dead_letter: OnDeadLetter | None = None,
        lanes: Sequence[Lane] = ("priority", "bulk"),
        concurrency: int = 1,
        priority_concurrency: int = 1,
    ) -> None:
        if concurrency < 1 or priority_concurrency < 1:
            raise ValueError("a worker runs at least one job per lane at once")
        self.cluster = cluster
        self.executor = executor
        self.worker_id = worker_id or uuid.uuid4().hex[:12]
        self.on_dead_letter = on_dead_letter
        # priority first, whatever order was given
        self.lanes: tuple[Lane, ...] = tuple(
            lane for lane in subjects.LANES if lane in {subjects.check_lane(x) for x in lanes}
        )
        if not self.lanes:
            raise ValueError("a worker serves at least one lane")
        self.slots: dict[Lane, int] = {"priority": priority_concurrency, "bulk": concurrency}
        self.leases = ChannelLeases(cluster.leases_kv, cluster.settings.lease_ttl_s)
        self.started_at = datetime.now(UTC)
        self.jobs_done = 0
        self.jobs_failed = 0  # deliveries that ended in a nak or a dead letter
        self._held: dict[str, HeldJob] = {}
        self._running: dict[Lane, set[asyncio.Task[None]]] = {lane: set() for lane in self.lanes}
        self._stop = asyncio.Event()
        self._freed = {lane: asyncio.Event() for lane in self.lanes}

    def stop(self) -> None:
        """Stop fetching; `run` returns once the running jobs are settled."""
        self._stop.set()
        for freed in self._freed.values():
            freed.set()

    def beat(self) -> WorkerBeat:
        return WorkerBeat(
            worker_id=self.worker_id,
            role="worker",
            started_at=self.started_at,
            beat_at=datetime.now(UTC),
            jobs_held=list(self._held.values()),
            jobs_done=self.jobs_done,
            jobs_failed=self.jobs_failed,
        )

    async def run(self) -> None:
        """Pull and run jobs until `stop()`; cancelling it abandons the running jobs unsettled
        (JetStream redelivers them after ack_wait), like a crash."""
        js = self.cluster.js
        settings = self.cluster.settings
        pulls = {
            lane: await js.pull_subscribe_bind(
                durable=subjects.consumer_name(settings.consumer, lane), stream=settings.stream
            )
            for lane in self.lanes
        }
        try:
            async with beating(self.cluster, self.beat):
                await asyncio.gather(*(self._pull(lane, pull) for lane, pull in pulls.items()))
                await self._drain()
        finally:
            for tasks in self._running.values():
                for task in tasks:
                    task.cancel()
            for pull in pulls.values():
                with contextlib.suppress(NatsError, TimeoutError):
                    await pull.unsubscribe()

    async def _pull(self, lane: Lane, pull: JetStreamContext.PullSubscription) -> None:
        """One lane's loop: a long poll for as many jobs as the lane has free slots.

        Each lane has its own loop and slots, so a priority job is fetched the moment it is
        published, however many bulk jobs are queued or running.
        """
        wait = self.cluster.settings.fetch_wait_s
        freed = self._freed[lane]
        while not self._stop.is_set():
            free = self.slots[lane] - len(self._running[lane])
            if free <= 0:
                freed.clear()
                await freed.wait()
                continue
            try:
                messages = await pull.fetch(free, timeout=wait)
            except TimeoutError:  # nats' TimeoutError is one too: nothing queued
                continue
            except NatsError as exc:  # NATS away: back off a little, reconnection is automatic
                _closed_or_cancelled(self.cluster)
                LOG.warning("fetching %s jobs: %s", lane, type(exc).__name__)
                await asyncio.sleep(min(wait, 1.0))
                continue
            for msg in messages:
                task = asyncio.create_task(self._handle(msg, lane))
                self._running[lane].add(task)
                task.add_done_callback(functools.partial(self._done, lane))

    def _done(self, lane: Lane, task: asyncio.Task[None]) -> None:
        self._running[lane].discard(task)
        self._freed[lane].set()
        if not task.cancelled() and task.exception() is not None:
            LOG.error("job task failed", exc_info=task.exception())

    async def _drain(self) -> None:
        tasks = [t for tasks in self._running.values() for t in tasks]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(self, msg: Msg, lane: Lane) -> None:
        delivered = msg.metadata.num_delivered
        try:
            job = ChannelJob.model_validate_json(msg.data)
        except ValidationError as exc:
            reason = f"not a channel job: {exc.error_count()} validation error(s)"
            LOG.error("dead letter (lane %s): %s", lane, reason)
            raw = msg.data[:_RAW_KEPT].decode(errors="replace")
            await self._dead(msg, None, lane, reason, delivered, raw=raw)
            return
        max_deliver = self.cluster.settings.max_deliver
        if delivered > max_deliver:
            reason = f"not settled after {delivered - 1} deliveries (a worker was lost on the last)"
            await self._dead(msg, job, lane, reason, delivered)
            return
        ticker = asyncio.create_task(self._in_progress(msg))
        self._held[job.job_id] = HeldJob(job_id=job.job_id, channel_id=job.channel_id)
        try:
            report, failure = await self._attempt(job)
        finally:
            self._held.pop(job.job_id, None)
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        backoff = self.cluster.settings.nak_backoff_s
        decision = policy.settle(failure, delivered, max_deliver, backoff)
        if isinstance(decision, policy.Ack):
            assert report is not None
            await self._through(lambda: self._report(report))
            await self._through(msg.ack_sync)
            self.jobs_done += 1
        elif isinstance(decision, policy.Retry):
            LOG.warning(
                "job %s (channel %s) failed on delivery %d: %s; again in %g s",
                job.job_id, job.channel_id, delivered, decision.reason, decision.delay_s,
            )  # fmt: skip
            self.jobs_failed += 1
            await self._through(lambda: msg.nak(delay=decision.delay_s))
        else:
            await self._dead(msg, job, lane, decision.reason, delivered)

    async def _attempt(self, job: ChannelJob) -> tuple[ChannelReport | None, str | None]:
        """Run the job (under its channel lease if it needs one): (report, failure reason)."""
        try:
            if not policy.needs_lease(job):
                report = await self.executor.run(job)
            else:
                # a dead holder's lease expires within one TTL: worth waiting that long
                async with self.leases.hold(
                    job.channel_id, self.worker_id, job.job_id, wait_s=self.leases.ttl_s
                ):
                    report = await self.executor.run(job)
        except LeaseBusy as busy:
            return None, f"channel busy: {busy}"
        except LeaseLost as lost:
            return None, str(lost)
        except Exception as exc:  # the executor's failure is the job's, not the worker's
            LOG.exception("job %s (channel %s): executor failed", job.job_id, job.channel_id)
            return None, f"executor failed: {type(exc).__name__}: {exc}"
        return report, policy.channel_failure(report)

    async def _through(self, step: Callable[[], Awaitable[object]]) -> None:
        """Do a settling step, again while NATS reconnects, for up to `ack_wait`: past that the
        job is redelivered anyway (and run again: readings are stored once, by key)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cluster.settings.ack_wait_s
        while True:
            try:
                await step()
                return
            except (NatsError, TimeoutError) as exc:
                _closed_or_cancelled(self.cluster)
                if loop.time() >= deadline:
                    raise
                LOG.warning("settling a job: %s; again", type(exc).__name__)
                await asyncio.sleep(0.5)

    async def _in_progress(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self.cluster.settings.progress_s)
            with contextlib.suppress(NatsError, TimeoutError):
                await msg.in_progress()

    async def _report(self, report: ChannelReport) -> None:
        await self.cluster.js.publish(
            subjects.results(self.cluster.site, report.job_id),
            report.model_dump_json().encode(),
            stream=self.cluster.settings.results_stream,
        )

    async def _dead(
        self,
        msg: Msg,
        job: ChannelJob | None,
        lane: Lane,
        reason: str,
        delivered: int,
        *,
        raw: str | None = None,
    ) -> None:
        self.jobs_failed += 1
        letter = DeadLetter(
            job=job, raw=raw, lane=lane, reason=reason, deliveries=delivered,
            worker_id=self.worker_id,
        )  # fmt: skip
        await self._through(lambda: publish_dead_letter(self.cluster, letter))
        if job is not None:
            LOG.error("job %s (channel %s) dead-lettered: %s", job.job_id, job.channel_id, reason)
            if self.on_dead_letter is not None:
                try:
                    await self.on_dead_letter(job, reason)
                except Exception:  # the letter is stored; a failing callback must not block it
                    LOG.exception("on_dead_letter failed for job %s", job.job_id)
            failed = policy.failed_report(job, reason)
            await self._through(lambda: self._report(failed))
        await self._through(msg.ack_sync)
