"""Jobs through a real nats-server: published by QueueExecutor, run by ClusterWorker.

The worker's job runner is `ScriptedExecutor` (tests/cluster/jobs.py), a stand-in for the
component that is not under test here; everything else (JetStream streams, consumers, acks,
redelivery, key-value leases and heartbeats) is real.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from headend.cluster.connection import Cluster, open_cluster
from headend.cluster.dead_letters import dead_letter_event, dead_letters
from headend.cluster.heartbeats import workers
from headend.cluster.leases import ChannelLeases
from headend.cluster.queue_executor import JobTimeout, QueueExecutor
from headend.cluster.settings import ClusterSettings
from headend.cluster.status import cluster_status
from headend.cluster.worker import ClusterWorker
from headend.reading.jobs import ChannelJob
from headend.reading.report import ChannelReport, MeterReport, MeterStatus
from tests.cluster.conftest import SITE
from tests.cluster.jobs import ScriptedExecutor, down_report, job, ok_report
from tests.nats_server import NatsServer

GUARD_S = 20  # a hang guard only


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GUARD_S
    while not await check():
        assert loop.time() < deadline, f"never: {what}"
        await asyncio.sleep(0.05)


async def queued(cluster: Cluster) -> int:
    return (await cluster.js.stream_info(cluster.settings.stream)).state.messages


@contextlib.asynccontextmanager
async def running(worker: ClusterWorker) -> AsyncIterator[asyncio.Task[None]]:
    """The worker running for the body, stopped gracefully after it."""
    task = asyncio.create_task(worker.run())
    try:
        yield task
    finally:
        worker.stop()
        async with asyncio.timeout(GUARD_S):
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def connection(settings: ClusterSettings) -> AsyncIterator[Cluster]:
    cluster = await open_cluster(settings, SITE, environ={})
    try:
        yield cluster
    finally:
        await cluster.close()


async def test_a_job_runs_on_a_worker_and_its_report_comes_back(cluster: Cluster) -> None:
    executor = ScriptedExecutor()
    worker = ClusterWorker(cluster, executor, worker_id="w1")
    the_job = job("serial-1", meters=3)
    seen: list[MeterReport] = []
    async with running(worker):
        report = await QueueExecutor(cluster).run(the_job, seen.append)
    assert report == ok_report(the_job)
    assert [m.meter_id for m in seen] == the_job.meter_ids
    assert [j.job_id for j in executor.started] == [the_job.job_id]
    assert worker.jobs_done == 1 and worker.jobs_failed == 0
    assert await queued(cluster) == 0  # acknowledged: gone from the work queue
    assert await ChannelLeases(cluster.leases_kv, 2.0).holder("serial-1") is None


async def test_a_job_published_twice_is_queued_once(cluster: Cluster) -> None:
    the_job = job("serial-1")
    for _ in range(2):
        await cluster.js.publish(
            f"headend.{SITE}.jobs.bulk",
            the_job.model_dump_json().encode(),
            headers={"Nats-Msg-Id": the_job.job_id},
        )
    assert await queued(cluster) == 1


async def test_priority_jobs_are_served_before_queued_bulk_jobs(cluster: Cluster) -> None:
    scheduler = QueueExecutor(cluster)
    bulk = [job(f"bulk-{n}") for n in range(3)]
    urgent = job("on-demand", lane="priority")
    reports: list[asyncio.Task[ChannelReport]] = []
    for n, j in enumerate([*bulk, urgent], start=1):
        reports.append(asyncio.create_task(scheduler.run(j)))
        await eventually(lambda n=n: _has(cluster, n), f"{n} jobs queued")  # type: ignore[misc]
    executor = ScriptedExecutor()
    async with running(ClusterWorker(cluster, executor, concurrency=1)):
        async with asyncio.timeout(GUARD_S):
            done = await asyncio.gather(*reports)
    assert [r.job_id for r in done] == [j.job_id for j in [*bulk, urgent]]
    started = [j.job_id for j in executor.started]
    # the priority job does not queue behind the bulk backlog: it starts at once, at worst
    # alongside the first bulk job (one slot per lane here), before the rest of the backlog
    assert started.index(urgent.job_id) <= 1
    assert [i for i in started if i != urgent.job_id] == [j.job_id for j in bulk]


async def _has(cluster: Cluster, n: int) -> bool:
    return await queued(cluster) >= n


async def test_a_running_bulk_job_does_not_hold_back_a_priority_job(cluster: Cluster) -> None:
    gate = asyncio.Event()
    scheduler = QueueExecutor(cluster)

    def answer(j: ChannelJob) -> ChannelReport:
        return ok_report(j)

    executor = ScriptedExecutor(answer)
    long_bulk = job("bulk-long")
    blocked = ScriptedExecutor(gate=gate)

    class ByLane:
        async def run(self, j: ChannelJob, progress: object = None) -> ChannelReport:
            return await (blocked if j.lane == "bulk" else executor).run(j)

    async with running(ClusterWorker(cluster, ByLane(), concurrency=1)):
        bulk_report = asyncio.create_task(scheduler.run(long_bulk))
        async with asyncio.timeout(GUARD_S):
            await blocked.running.wait()
            urgent = job("on-demand", lane="priority")
            report = await scheduler.run(urgent)  # while the bulk job still runs
        assert report.job_id == urgent.job_id and not bulk_report.done()
        gate.set()
        async with asyncio.timeout(GUARD_S):
            assert (await bulk_report).job_id == long_bulk.job_id


async def test_a_job_of_a_worker_that_dies_is_redelivered_to_another(
    cluster: Cluster, settings: ClusterSettings
) -> None:
    the_job = job("serial-1")
    report = asyncio.create_task(QueueExecutor(cluster).run(the_job))
    hanging = ScriptedExecutor(gate=asyncio.Event())  # never finishes
    async with connection(settings) as doomed:
        first = ClusterWorker(doomed, hanging, worker_id="doomed")
        task = asyncio.create_task(first.run())
        async with asyncio.timeout(GUARD_S):
            await hanging.running.wait()
        # dies: its connection gone first (no ack, no release can leave), then its task
        await doomed.nc.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    survivor = ScriptedExecutor()
    async with running(ClusterWorker(cluster, survivor, worker_id="survivor")):
        async with asyncio.timeout(GUARD_S):
            done = await report
    assert done == ok_report(the_job)
    assert [j.job_id for j in survivor.started] == [the_job.job_id]
    assert hanging.finished == []


async def test_a_job_that_always_fails_ends_as_a_dead_letter(cluster: Cluster) -> None:
    executor = ScriptedExecutor(down_report)
    called: list[tuple[str, str]] = []

    async def on_dead_letter(j: ChannelJob, reason: str) -> None:
        called.append((j.job_id, reason))

    the_job = job("serial-down", meters=2)
    worker = ClusterWorker(cluster, executor, worker_id="w1", on_dead_letter=on_dead_letter)
    async with running(worker):
        async with asyncio.timeout(GUARD_S):
            report = await QueueExecutor(cluster).run(the_job)
    deliveries = cluster.settings.max_deliver
    assert len(executor.started) == deliveries  # retried until max_deliver, not beyond
    assert [m.status for m in report.meters] == [MeterStatus.FAILED] * 2
    assert {m.cause for m in report.meters} == {"dead letter"}
    assert called == [(the_job.job_id, report.meters[0].error)]
    assert "channel down" in called[0][1]
    letters = await dead_letters(cluster)
    assert len(letters) == 1
    letter = letters[0]
    assert letter.job == the_job and letter.deliveries == deliveries
    assert letter.worker_id == "w1" and "channel down" in letter.reason
    assert await queued(cluster) == 0
    assert worker.jobs_failed == deliveries and worker.jobs_done == 0
    event = dead_letter_event(the_job, called[0][1], at=letter.at)
    assert event.channel_id == "serial-down" and event.cause == "dead letter"
    assert the_job.job_id in event.text and "channel down" in event.text


async def test_an_executor_that_raises_is_retried_then_dead_lettered(cluster: Cluster) -> None:
    def broken(j: ChannelJob) -> ChannelReport:
        raise RuntimeError("modem pool exhausted")

    executor = ScriptedExecutor(broken)
    async with running(ClusterWorker(cluster, executor)):
        async with asyncio.timeout(GUARD_S):
            report = await QueueExecutor(cluster).run(job("serial-x"))
    assert len(executor.started) == cluster.settings.max_deliver
    assert report.meters[0].error is not None
    assert "modem pool exhausted" in report.meters[0].error
    assert "modem pool exhausted" in (await dead_letters(cluster))[0].reason


async def test_a_malformed_message_goes_straight_to_the_dead_letters(cluster: Cluster) -> None:
    executor = ScriptedExecutor()
    await cluster.js.publish(f"headend.{SITE}.jobs.bulk", b'{"channel_id": 42}')
    async with running(ClusterWorker(cluster, executor)):
        await eventually(lambda: _letters(cluster), "a dead letter")
    letter = (await dead_letters(cluster))[0]
    assert letter.job is None and letter.raw == '{"channel_id": 42}'
    assert "not a channel job" in letter.reason and letter.deliveries == 1
    assert executor.started == []
    assert await queued(cluster) == 0


async def _letters(cluster: Cluster) -> bool:
    return bool(await dead_letters(cluster))


async def test_a_job_queued_before_nats_restarts_still_runs(
    cluster: Cluster, nats_server: NatsServer
) -> None:
    the_job = job("serial-1")
    report = asyncio.create_task(QueueExecutor(cluster).run(the_job))
    await eventually(lambda: _has(cluster, 1), "the job queued")
    await asyncio.to_thread(nats_server.restart)
    executor = ScriptedExecutor()
    async with running(ClusterWorker(cluster, executor)):
        async with asyncio.timeout(GUARD_S):
            done = await report
    assert done == ok_report(the_job)
    assert [j.job_id for j in executor.started] == [the_job.job_id]


async def test_heartbeats_show_workers_and_their_jobs(
    cluster: Cluster, settings: ClusterSettings
) -> None:
    gate = asyncio.Event()
    executor = ScriptedExecutor(gate=gate)
    the_job = job("serial-1")
    async with running(ClusterWorker(cluster, executor, worker_id="w-graceful")):
        report = asyncio.create_task(QueueExecutor(cluster).run(the_job))
        async with asyncio.timeout(GUARD_S):
            await executor.running.wait()

        async def holds() -> bool:
            beats = await workers(cluster)
            return bool(beats) and bool(beats[0].jobs_held)

        await eventually(holds, "the held job in a heartbeat")
        beat = (await workers(cluster))[0]
        assert beat.worker_id == "w-graceful" and beat.role == "worker"
        assert [(h.job_id, h.channel_id) for h in beat.jobs_held] == [(the_job.job_id, "serial-1")]
        gate.set()
        async with asyncio.timeout(GUARD_S):
            await report
        await eventually(
            lambda: _beat_with(cluster, lambda b: b.jobs_done == 1 and not b.jobs_held),
            "the finished job counted",
        )
    assert await workers(cluster) == []  # a graceful stop removes the beat at once


async def _beat_with(cluster: Cluster, check: Callable[..., bool]) -> bool:
    beats = await workers(cluster)
    return bool(beats) and check(beats[0])


async def test_the_heartbeat_of_a_dead_worker_expires(
    cluster: Cluster, settings: ClusterSettings
) -> None:
    async with connection(settings) as doomed:
        worker = ClusterWorker(doomed, ScriptedExecutor(), worker_id="w-dies")
        task = asyncio.create_task(worker.run())
        await eventually(lambda: _beat_with(cluster, lambda b: True), "a heartbeat")
        await doomed.nc.close()  # dies: no beat can be removed
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    assert [b.worker_id for b in await workers(cluster)] == ["w-dies"]

    async def gone() -> bool:
        return await workers(cluster) == []

    await eventually(gone, "the beat expired (3 heartbeats)")


async def test_the_scheduler_gives_up_clearly_without_workers(cluster: Cluster) -> None:
    the_job = job("serial-9")
    with pytest.raises(JobTimeout, match=f"job {the_job.job_id} \\(channel 'serial-9'"):
        await QueueExecutor(cluster, timeout_s=0.5).run(the_job)


async def test_a_report_missed_live_is_found_in_the_results_stream(cluster: Cluster) -> None:
    the_job = job("serial-1")
    executor = ScriptedExecutor()
    # run once with nobody waiting: the report is only in the results stream
    await cluster.js.publish(
        f"headend.{SITE}.jobs.bulk",
        the_job.model_dump_json().encode(),
        headers={"Nats-Msg-Id": the_job.job_id},
    )
    async with running(ClusterWorker(cluster, executor)):
        await eventually(lambda: _has_report(cluster, the_job), "the stored report")
    scheduler = QueueExecutor(cluster, look_back_s=0.2)
    async with asyncio.timeout(GUARD_S):
        report = await scheduler.run(the_job)  # published again: a duplicate, not queued
    assert report == ok_report(the_job)
    assert len(executor.started) == 1 and await queued(cluster) == 0
    await scheduler.close()


async def _has_report(cluster: Cluster, the_job: ChannelJob) -> bool:
    info = await cluster.js.stream_info(cluster.settings.results_stream)
    return info.state.messages > 0


async def test_many_jobs_two_workers_one_session_per_channel(cluster: Cluster) -> None:
    """40 jobs on 5 half-duplex channels: every job runs once, never two at once on a channel."""
    busy: dict[str, int] = {}
    overlaps: list[str] = []
    ran: list[str] = []

    class Tracking:
        async def run(self, j: ChannelJob, progress: object = None) -> ChannelReport:
            busy[j.channel_id] = busy.get(j.channel_id, 0) + 1
            if busy[j.channel_id] > 1:
                overlaps.append(j.channel_id)
            await asyncio.sleep(0.01)  # holds the channel across a loop turn
            busy[j.channel_id] -= 1
            ran.append(j.job_id)
            return ok_report(j)

    jobs = [job(f"serial-{n % 5}") for n in range(40)]
    scheduler = QueueExecutor(cluster)
    async with (
        running(ClusterWorker(cluster, Tracking(), worker_id="a", concurrency=4)),
        running(ClusterWorker(cluster, Tracking(), worker_id="b", concurrency=4)),
    ):
        async with asyncio.timeout(GUARD_S * 2):
            reports = await asyncio.gather(*(scheduler.run(j) for j in jobs))
    assert [r.job_id for r in reports] == [j.job_id for j in jobs]
    assert sorted(ran) == sorted(j.job_id for j in jobs)
    assert overlaps == []
    await scheduler.close()


async def test_a_worker_killed_mid_job_loses_its_lease_and_the_job_runs_elsewhere(
    cluster: Cluster, nats_server: NatsServer
) -> None:
    """SIGKILL: no ack, no lease release, no goodbye. JetStream redelivers the job after
    ack_wait, the lease expires after its TTL, and another worker finishes the job."""
    the_job = job("serial-1")
    report = asyncio.create_task(QueueExecutor(cluster).run(the_job))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.cluster.worker_process",
        nats_server.url,
        "w-killed",
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(GUARD_S):
            line = await process.stdout.readline()
        assert line.decode().split() == ["RUNNING", the_job.job_id]
        holder = await ChannelLeases(cluster.leases_kv, 2.0).holder("serial-1")
        assert holder is not None and holder.holder == "w-killed"
        process.kill()
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    survivor = ScriptedExecutor()
    async with running(ClusterWorker(cluster, survivor, worker_id="survivor")):
        async with asyncio.timeout(GUARD_S):
            done = await report
    assert done == ok_report(the_job)
    assert [j.job_id for j in survivor.started] == [the_job.job_id]
    assert await queued(cluster) == 0


async def test_status_shows_queues_workers_leases_and_dead_letters(cluster: Cluster) -> None:
    gate = asyncio.Event()
    executor = ScriptedExecutor(gate=gate)
    scheduler = QueueExecutor(cluster)
    first, second = job("serial-1"), job("serial-2")
    await cluster.js.publish(f"headend.{SITE}.jobs.bulk", b"not json")
    async with running(ClusterWorker(cluster, executor, worker_id="w1", concurrency=1)):
        reports = [asyncio.create_task(scheduler.run(j)) for j in (first, second)]
        async with asyncio.timeout(GUARD_S):
            await executor.running.wait()

        async def settled() -> bool:
            s = await cluster_status(cluster)
            return s.dead_letters == 1 and bool(s.workers) and bool(s.workers[0].jobs_held)

        await eventually(settled, "one job running, one waiting, one dead letter")
        status = await cluster_status(cluster)
        bulk = next(d for d in status.lanes if d.lane == "bulk")
        assert (bulk.waiting, bulk.running) == (1, 1)
        assert [w.worker_id for w in status.workers] == ["w1"]
        assert [(r.channel_id, r.holder) for r in status.leases] == [
            (executor.started[0].channel_id, "w1")
        ]
        gate.set()
        async with asyncio.timeout(GUARD_S):
            await asyncio.gather(*reports)
    status = await cluster_status(cluster)
    assert [(d.waiting, d.running) for d in status.lanes] == [(0, 0), (0, 0)]
    assert status.leases == [] and status.workers == []
    await scheduler.close()


async def test_nats_restarted_while_a_job_runs(cluster: Cluster, nats_server: NatsServer) -> None:
    """The job finishes during the outage's aftermath: its report and ack go through once NATS
    is back. JetStream may meanwhile redeliver it (its ack-wait clock restarts with the
    server), so it may run twice: harmless, readings are stored once by key."""
    gate = asyncio.Event()
    executor = ScriptedExecutor(gate=gate)
    the_job = job("serial-1")
    async with running(ClusterWorker(cluster, executor)):
        report = asyncio.create_task(QueueExecutor(cluster).run(the_job))
        async with asyncio.timeout(GUARD_S):
            await executor.running.wait()
        await asyncio.to_thread(nats_server.restart)
        gate.set()
        async with asyncio.timeout(GUARD_S):
            done = await report
        assert done == ok_report(the_job)
        await eventually(lambda: _empty(cluster), "the job acknowledged")
    assert {j.job_id for j in executor.finished} == {the_job.job_id}


async def _empty(cluster: Cluster) -> bool:
    return await queued(cluster) == 0


async def test_a_job_longer_than_ack_wait_is_not_redelivered(cluster: Cluster) -> None:
    """The worker keeps telling JetStream the job is in progress, so a job may run for several
    ack-wait periods without a second worker taking it (both share the stand-in runner, which
    counts the runs)."""
    gate = asyncio.Event()
    executor = ScriptedExecutor(gate=gate)
    the_job = job("tcp-gw", concurrency=4)  # no lease: only in-progress keeps it here
    async with (
        running(ClusterWorker(cluster, executor, worker_id="a")),
        running(ClusterWorker(cluster, executor, worker_id="b")),
    ):
        report = asyncio.create_task(QueueExecutor(cluster).run(the_job))
        async with asyncio.timeout(GUARD_S):
            await executor.running.wait()
        await asyncio.sleep(3 * cluster.settings.ack_wait_s)
        gate.set()
        async with asyncio.timeout(GUARD_S):
            assert await report == ok_report(the_job)
    assert [j.job_id for j in executor.started] == [the_job.job_id]
