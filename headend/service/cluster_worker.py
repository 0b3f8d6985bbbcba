"""`headend run --role worker`: a process that pulls channel jobs from JetStream and reads them.

Each job runs with the in-process executor (the fleet's channels, the meter settings resolver,
the shared PostgreSQL store as sink, contacts and invocation counters) and its readings are
committed before the job counts as done: a store that refuses them fails the job, which
JetStream then redelivers. A dead-lettered job is stored as a `JOB_DEAD_LETTER` event. The
worker beats in the cluster's worker bucket (what `headend status` shows) and needs no scheduler
and no control socket. Stopping (SIGINT/SIGTERM) fetches no new job, lets the running ones
finish within `service.shutdown_grace_s` (then abandons them: redelivered after `ack_wait_s`)
and releases the leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from datetime import UTC, datetime

from drivers.channel import ChannelRegistry
from drivers.contract import MeterEvent
from headend.cluster.dead_letters import dead_letter_event
from headend.cluster.settings import ClusterSettings
from headend.cluster.worker import ClusterWorker
from headend.config.loader import HeadendConfig
from headend.config.settings import meter_settings
from headend.events.model import Event
from headend.reading.channels import channel_registry, channel_spec
from headend.reading.executor import InProcessExecutor, Progress
from headend.reading.jobs import ChannelJob
from headend.reading.meter import SettingsResolver
from headend.reading.report import ChannelReport, MeterStatus
from headend.reading.saving import RunFailed, Saver
from headend.service.roles import connect
from headend.store.base import Store

LOG = logging.getLogger("headend.service.worker")


def default_worker_id() -> str:
    """Host and process id: unique in a cluster, and says where to look."""
    return f"{socket.gethostname()}-{os.getpid()}"


class CommittingExecutor:
    """The in-process executor with a saver of its own per job, so a job's readings are
    committed (or the job fails) before `run` returns: the worker acks only after that."""

    def __init__(
        self,
        config: HeadendConfig,
        store: Store,
        *,
        resolve: SettingsResolver | None = None,
        channels: ChannelRegistry | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.resolve = resolve or (lambda meter_id: meter_settings(config, meter_id))
        # one registry for every job of this process: breakers and session bounds are shared
        self.channels = channels or channel_registry(config.fleet)

    async def _store_events(self, channel_id: str, events: list[MeterEvent]) -> None:
        received = datetime.now(UTC)
        await self.store.save_events(
            [Event.of_meter(e, channel_id=channel_id, received_at=received) for e in events]
        )

    async def run(self, job: ChannelJob, progress: Progress | None = None) -> ChannelReport:
        started = time.monotonic()
        fleet = self.config.fleet
        saver = Saver(self.store, self._store_events)
        executor = InProcessExecutor(
            self.resolve,
            self.store,
            contacts=self.store,
            counters=self.store,
            channels=self.channels,
            channel_spec=lambda j: channel_spec(fleet, j.channel_id),
            saver=saver,
        )
        report = await executor.run(job, progress)
        if not await saver.flush():
            raise RunFailed(
                f"the store failed ({saver.last_error}): {len(saver.unsaved)} readings of job "
                f"{job.job_id} not stored",
                kept=len(saver.unsaved),
                spool=None,
            )
        ok = sum(1 for m in report.meters if m.status is MeterStatus.OK)
        LOG.debug(
            "job %s (channel %s, %s lane, plan %s): %d meters, %d ok, %d not ok, "
            "%d readings (%d new) in %.1f s",
            job.job_id,
            job.channel_id,
            job.lane,
            job.plan.name,
            len(report.meters),
            ok,
            len(report.meters) - ok,
            sum(m.readings for m in report.meters),
            sum(m.stored for m in report.meters),
            time.monotonic() - started,
        )
        return report


async def run_worker(
    config: HeadendConfig,
    store: Store,
    settings: ClusterSettings,
    stop: asyncio.Event,
    *,
    worker_id: str | None = None,
    resolve: SettingsResolver | None = None,
) -> None:
    """Pull and run jobs until `stop` is set; then stop gracefully (see the module docstring)."""
    wid = worker_id or default_worker_id()
    site = config.fleet.site.name
    cluster = await connect(settings, site, f"headend worker {wid}")

    async def dead_letter(job: ChannelJob, reason: str) -> None:
        await store.save_events([dead_letter_event(job, reason)])

    try:
        worker = ClusterWorker(
            cluster,
            CommittingExecutor(config, store, resolve=resolve),
            worker_id=wid,
            on_dead_letter=dead_letter,
            concurrency=settings.worker_jobs,
            priority_concurrency=settings.worker_priority_jobs,
        )
        LOG.info(
            "worker %s of site %s: up to %d bulk and %d priority jobs at once, NATS %s",
            wid, site, settings.worker_jobs, settings.worker_priority_jobs,
            ", ".join(settings.urls),
        )  # fmt: skip
        running = asyncio.create_task(worker.run(), name=f"worker {wid}")
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            worker.stop()
        grace = config.fleet.service.shutdown_grace_s
        if not running.done():
            LOG.info("worker %s stopping: running jobs get %g s to finish", wid, grace)
        done, _ = await asyncio.wait({running}, timeout=grace)
        if not done:
            # abandoned like a crash: JetStream redelivers them after ack_wait_s
            LOG.warning("worker %s: jobs still running after %g s abandoned", wid, grace)
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        if not running.cancelled():
            running.result()  # a worker that failed on its own says why
        LOG.info("worker %s stopped: %d jobs done, %d failed deliveries", wid,
                 worker.jobs_done, worker.jobs_failed)  # fmt: skip
    finally:
        await cluster.close()
