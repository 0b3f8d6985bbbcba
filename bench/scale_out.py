"""Scale-out benchmark (issue 11): a generated fleet read by worker processes through NATS
JetStream into PostgreSQL.

    python -m bench.scale_out [--meters 20000] [--workers 1,2,4] [--big 100000]
                              [--big-workers 2] [--latency-ms 100] [--worker-jobs N]

The bench starts its own PostgreSQL (tests/postgres_server.py) and serves a generated fleet with
`headend simulate --meters N --write-config FILE` in its own process, as bench/fleet_read.py
does. For each worker count W it starts a fresh nats-server with JetStream (tests/nats_server.py:
fresh streams and buckets), creates a fresh database, writes the fleet file with a `[cluster]`
section and `site.database` naming them, starts W `headend run --role worker` processes, waits
for their heartbeats, then runs `headend collect --plan daily-registers --role scheduler --json`
(the daily register set: 1.8.0, 1.8.1-4, 2.8.0 and the clock, no profile) and stops the workers
with SIGTERM. Then `--big` meters are served anew and read the same way by `--big-workers`.

What is measured, per run:
- wall time: from starting the scheduler process to its exit, as an operator sees it (its
  start-up included); meters/s = meters / wall time, and `scaling_2x` is the 2-worker meters/s
  over the 1-worker one. `span` is first job published to last report seen, the part the
  workers share (`scaling_2x_span`: the same ratio over it);
- per worker: CPU over the run (/proc/<pid>/stat utime + stime, before and after) and peak RSS
  (VmHWM, read before SIGTERM); the scheduler's CPU (wait4) and peak RSS (VmHWM, polled); the
  simulator's CPU over the same run (it shares the 2 cores);
- queue depth: the bulk consumer's pending and unacknowledged jobs, sampled every second;
- job latency, publish -> report: this process subscribes (core NATS, next to the streams) to the
  jobs subjects, noting when each job id (its Nats-Msg-Id header) is published, and to the
  results subjects, noting when its report arrives; the difference includes the time the job
  waited in the queue. The observer's own CPU is shown apart;
- meters ok / partial / failed from the scheduler's JSON report; readings and distinct meters
  stored, counted in PostgreSQL;
- what the run shares the machine with: the simulator's, nats-server's and PostgreSQL's CPU (the
  postmaster with its backends) and how busy the cores were (/proc/stat), since on one machine
  they all compete with the workers.

The meters reply after `--latency-ms` (100 ms by default, a cellular modem on a good day; GPRS
is 0.5-2 s). A worker then is bound by its `worker_jobs` sessions waiting on meters, as workers
are in the field, and the run shows whether the shared parts (scheduler, NATS, leases,
PostgreSQL) let two workers do twice the work. At `--latency-ms 20` one worker alone keeps the
2-core machine 80 % busy (the simulator, PostgreSQL, NATS and the scheduler take half of that),
so a second worker on the same machine can add little: that run measures CPU per meter.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js.errors import NoKeysError, NotFoundError
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from bench.proc_stats import CpuTimes, cpu_s, peak_rss_mb, tree_cpu_s
from headend.cluster import subjects
from headend.cluster.heartbeats import WorkerBeat
from headend.cluster.settings import ClusterSettings
from headend.reading.report import MeterStatus, RunReport
from headend.store import open_store
from tests.conftest import free_port
from tests.nats_server import NatsServer
from tests.postgres_server import PostgresServer

HEADEND = [sys.executable, "-m", "headend.cli.main"]
PLAN = "daily-registers"  # generated fleets' daily register set without the profile day
SITE = "generated"  # the site name `headend simulate` writes
SAMPLE_S = 1.0  # queue depth sampling period
DEPTH_POINTS = 30  # queue depth samples kept in the JSON per run
TARGET_BIG_S = 600.0
TARGET_SCALING = 1.7
TARGET_RSS_MB = 1024.0


# -- processes ---------------------------------------------------------------------------------


def tail(path: Path, size: int = 2500) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> int:
    """SIGTERM (a graceful stop), SIGKILL if it is not gone within `timeout_s`; the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def spawn(command: list[str], log: Path, stdout: Path | None = None) -> subprocess.Popen[bytes]:
    """A child with its output in `log`, or only its stderr when `stdout` is given."""
    with log.open("wb") as err:
        if stdout is None:
            return subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT
            )
        with stdout.open("wb") as out:
            return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err)


def worker_command(config: Path) -> list[str]:
    return [*HEADEND, "run", "--config", str(config), "--role", "worker"]


def scheduler_command(config: Path) -> list[str]:
    """`headend collect` as the scheduler role: the jobs go through the cluster."""
    plan = ["--config", str(config), "--plan", PLAN]
    return [*HEADEND, "collect", *plan, "--role", "scheduler", "--json"]


def fleet_shape(meters: int) -> list[str]:
    """`headend simulate` options for fleet_read.py's mix: per 5,000 meters a concentrator of
    20 HDLC meters, an RS-485 gateway of 16 Modbus units and a DL/T 645 line of 8 (half-duplex
    channels, read under a lease), the rest GPRS meters; smaller groups in a tiny fleet so that
    it still has every kind."""
    groups = max(1, meters // 5_000)
    return [
        "--concentrators", str(groups),
        "--meters-per-concentrator", str(min(20, max(1, meters // 10))),
        "--modbus-gateways", str(groups),
        "--units-per-gateway", str(min(16, max(1, meters // 10))),
        "--dlt645-lines", str(groups),
        "--meters-per-line", str(min(8, max(1, meters // 10))),
    ]  # fmt: skip


def serve_fleet(
    meters: int, latency_ms: float, work: Path, start_timeout_s: float
) -> tuple[subprocess.Popen[bytes], Path]:
    """`headend simulate` serving a generated fleet; it writes the fleet file once it listens."""
    config = work / f"fleet-{meters}.toml"
    config.unlink(missing_ok=True)
    log = work / f"simulate-{meters}.log"
    command = [
        *HEADEND, "simulate",
        "--meters", str(meters),
        *fleet_shape(meters),
        "--latency-ms", f"{latency_ms:g}",
        "--factor", "1",  # real time: the meters' clocks agree with the head-end's
        "--gprs-port", str(free_port()),
        "--write-config", str(config),
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + start_timeout_s
    while not config.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_process(proc, 10)
            raise SystemExit(f"headend simulate did not start:\n{tail(log)}")
        time.sleep(0.2)
    return proc, config


def run_config(base: Path, target: Path, database_url: str, cluster: dict[str, Any]) -> Path:
    """The served fleet file with `site.database` and a `[cluster]` section added."""
    text = base.read_text()
    if "\n[site]\n" not in text:
        raise SystemExit(f"{base}: no [site] table to put the database in")
    text = text.replace("\n[site]\n", f"\n[site]\ndatabase = {json.dumps(database_url)}\n", 1)
    lines = ["", "[cluster]", *(f"{key} = {json.dumps(value)}" for key, value in cluster.items())]
    target.write_text(text + "\n".join(lines) + "\n")
    return target


# -- what this process sees on NATS ------------------------------------------------------------


@dataclass
class Observed:
    published: dict[str, float] = field(default_factory=dict)  # results token -> monotonic time
    reported: dict[str, float] = field(default_factory=dict)
    depth: list[tuple[float, int, int]] = field(default_factory=list)  # (t, waiting, running)

    def latencies(self) -> list[float]:
        return sorted(
            self.reported[job] - start for job, start in self.published.items()
            if job in self.reported
        )  # fmt: skip

    def span_s(self) -> float:
        if not self.published or not self.reported:
            return 0.0
        return max(self.reported.values()) - min(self.published.values())


class Observer:
    """Job publications, reports and queue depth, seen from a NATS connection of our own.

    Core subscriptions on the jobs and results subjects receive a copy of every message the
    streams store, without taking anything from the work queue."""

    def __init__(self, settings: ClusterSettings, site: str) -> None:
        self.settings = settings
        self.site = site
        self.seen = Observed()
        self._nc: Client | None = None
        self._sampler: asyncio.Task[None] | None = None
        self._t0 = time.monotonic()

    async def start(self) -> None:
        self._nc = await nats.connect(servers=self.settings.urls, name="scale-out-bench")
        # a 100,000-job run publishes faster than a small default buffer would hold
        for subject, callback in (
            (subjects.all_jobs(self.site), self._on_job),
            (subjects.all_results(self.site), self._on_report),
        ):
            await self._nc.subscribe(
                subject, cb=callback, pending_msgs_limit=10_000_000, pending_bytes_limit=4 << 30
            )

    async def _on_job(self, msg: Msg) -> None:
        job_id = (msg.headers or {}).get("Nats-Msg-Id")
        if job_id:
            self.seen.published.setdefault(subjects.token(job_id), time.monotonic())

    async def _on_report(self, msg: Msg) -> None:
        self.seen.reported.setdefault(msg.subject.rsplit(".", 1)[1], time.monotonic())

    @property
    def nc(self) -> Client:
        assert self._nc is not None, "start() first"
        return self._nc

    async def workers(self) -> int:
        """Workers beating in the heartbeat bucket (0 while it does not exist yet)."""
        js = self.nc.jetstream()
        try:
            kv = await js.key_value(self.settings.worker_bucket)
            keys = await kv.keys()
        except (NotFoundError, NoKeysError):
            return 0
        count = 0
        for key in keys:
            try:
                entry = await kv.get(key)
                beat = WorkerBeat.model_validate_json(entry.value or b"")
            except (NotFoundError, ValidationError):
                continue
            count += beat.role == "worker"
        return count

    def sample(self) -> None:
        """Sample the bulk lane's depth every SAMPLE_S from now on (t = 0 now)."""
        self._t0 = time.monotonic()
        self._sampler = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        js = self.nc.jetstream()
        consumer = subjects.consumer_name(self.settings.consumer, "bulk")
        while True:
            try:
                info = await js.consumer_info(self.settings.stream, consumer)
                self.seen.depth.append(
                    (
                        time.monotonic() - self._t0,
                        info.num_pending or 0,
                        info.num_ack_pending or 0,
                    )
                )
            except (NatsError, TimeoutError):  # not declared yet
                pass
            await asyncio.sleep(SAMPLE_S)

    async def close(self) -> Observed:
        if self._sampler is not None:
            self._sampler.cancel()
            await asyncio.gather(self._sampler, return_exceptions=True)
        if self._nc is not None:
            await self._nc.drain()
        return self.seen


# -- one run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Servers:
    """The processes a run shares the machine with, whose CPU it reports."""

    simulator: int
    nats: int
    postgres: int  # the postmaster: its backends are its children


@dataclass
class Run:
    label: str
    meters: int
    workers: int
    ok: int
    partial: int
    failed: int
    wall_s: float
    span_s: float
    scheduler_cpu_s: float
    scheduler_rss_mb: float
    worker_cpu_s: list[float]
    worker_rss_mb: list[float]
    worker_exit: list[int]
    sim_cpu_s: float
    observer_cpu_s: float
    nats_cpu_s: float = 0.0
    postgres_cpu_s: float = 0.0
    machine_busy: float = 0.0  # share of the cores' time busy over the scheduler's run
    readings: int = 0
    meters_stored: int = 0
    latencies: list[float] = field(default_factory=list)
    jobs_published: int = 0
    depth: list[tuple[float, int, int]] = field(default_factory=list)

    @property
    def meters_per_s(self) -> float:
        return self.meters / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_ms_per_meter(self) -> float:
        """Workers' and scheduler's CPU per meter (the simulator's apart)."""
        total = sum(self.worker_cpu_s) + self.scheduler_cpu_s
        return 1000 * total / self.meters if self.meters else 0.0

    @property
    def peak_rss_mb_per_worker(self) -> float:
        return max(self.worker_rss_mb, default=0.0)

    def latency(self, share: float) -> float:
        if not self.latencies:
            return 0.0
        return self.latencies[min(len(self.latencies) - 1, int(share * len(self.latencies)))]

    @property
    def depth_max(self) -> int:
        return max((waiting + running for _, waiting, running in self.depth), default=0)

    def depth_points(self, points: int = DEPTH_POINTS) -> list[list[float]]:
        """At most `points` samples, evenly spread, the last one kept."""
        step = max(1, -(-len(self.depth) // points))
        kept = self.depth[::step]
        if self.depth and kept[-1] is not self.depth[-1]:
            kept.append(self.depth[-1])
        return [[round(t, 1), waiting, running] for t, waiting, running in kept]


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _poll_rss(pid: int, peak: list[float]) -> None:
    while True:
        try:
            peak[0] = max(peak[0], peak_rss_mb(pid))
        except OSError:  # exited
            return
        await asyncio.sleep(0.2)


async def _wait_workers(
    observer: Observer,
    procs: Sequence[subprocess.Popen[bytes]],
    logs: Sequence[Path],
    timeout_s: float,
) -> None:
    deadline = time.monotonic() + timeout_s
    while await observer.workers() < len(procs):
        for proc, log in zip(procs, logs, strict=True):
            if proc.poll() is not None:
                raise SystemExit(f"a worker exited ({proc.returncode}) at start:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise SystemExit(
                f"{len(procs)} workers not beating after {timeout_s:g} s:\n{tail(logs[0])}"
            )
        await asyncio.sleep(0.2)


async def measure(
    label: str,
    config: Path,
    meters: int,
    workers: int,
    settings: ClusterSettings,
    pids: Servers,
    work: Path,
    start_timeout_s: float,
) -> Run:
    """W workers and one scheduler run of PLAN; the store must exist already."""
    sim_pid = pids.simulator
    observer = Observer(settings, SITE)
    await observer.start()
    logs = [work / f"{label}-worker{i}.log" for i in range(workers)]
    procs: list[subprocess.Popen[bytes]] = []
    scheduler: subprocess.Popen[bytes] | None = None
    try:
        for log in logs:
            procs.append(await asyncio.to_thread(spawn, worker_command(config), log))
        await _wait_workers(observer, procs, logs, start_timeout_s)
        before = [cpu_s(p.pid) for p in procs]
        sim_before, self_before = cpu_s(sim_pid), self_cpu_s()
        nats_before, postgres_before = tree_cpu_s(pids.nats), tree_cpu_s(pids.postgres)
        machine_before = CpuTimes.now()
        observer.sample()
        out_path, err_path = work / f"{label}-scheduler.json", work / f"{label}-scheduler.log"
        started = time.perf_counter()
        scheduler = await asyncio.to_thread(spawn, scheduler_command(config), err_path, out_path)
        peak = [0.0]
        poller = asyncio.create_task(_poll_rss(scheduler.pid, peak))
        _pid, status, usage = await asyncio.to_thread(os.wait4, scheduler.pid, 0)
        wall = time.perf_counter() - started
        scheduler.returncode = os.waitstatus_to_exitcode(status)
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)
        # the workers' figures before SIGTERM: /proc is gone once they exit
        worker_cpu = [cpu_s(p.pid) - b for p, b in zip(procs, before, strict=True)]
        worker_rss = [peak_rss_mb(p.pid) for p in procs]
        sim_cpu, observer_cpu = cpu_s(sim_pid) - sim_before, self_cpu_s() - self_before
        machine_busy = CpuTimes.now().busy_share(machine_before)
        nats_cpu = tree_cpu_s(pids.nats) - nats_before
        postgres_cpu = tree_cpu_s(pids.postgres) - postgres_before
    finally:
        if scheduler is not None and scheduler.returncode is None:  # interrupted
            await asyncio.to_thread(stop_process, scheduler)
        seen = await observer.close()
        exits = await asyncio.gather(*(asyncio.to_thread(stop_process, p) for p in procs))
    if scheduler.returncode not in (0, 1):
        raise SystemExit(
            f"{label}: headend collect --role scheduler failed ({scheduler.returncode}):\n"
            f"{tail(err_path)}"
        )
    report = RunReport.model_validate_json(out_path.read_bytes())
    failed = [m for m in report.meters if m.status is MeterStatus.FAILED]
    if failed or len(report.meters) != meters:
        print(
            f"{label}: {len(report.meters)} meters reported, {len(failed)} failed "
            f"(first: {failed[0].meter_id if failed else '-'} {failed[0].error if failed else ''})",
            file=sys.stderr,
        )
    return Run(
        label=label,
        meters=meters,
        workers=workers,
        ok=report.count(MeterStatus.OK),
        partial=report.count(MeterStatus.PARTIAL),
        failed=len(failed) + max(0, meters - len(report.meters)),
        wall_s=wall,
        span_s=seen.span_s(),
        scheduler_cpu_s=usage.ru_utime + usage.ru_stime,
        scheduler_rss_mb=peak[0],
        worker_cpu_s=worker_cpu,
        worker_rss_mb=worker_rss,
        worker_exit=list(exits),
        sim_cpu_s=sim_cpu,
        observer_cpu_s=observer_cpu,
        nats_cpu_s=nats_cpu,
        postgres_cpu_s=postgres_cpu,
        machine_busy=machine_busy,
        latencies=seen.latencies(),
        jobs_published=len(seen.published),
        depth=seen.depth,
    )


async def _migrate(url: str) -> None:
    """Create the schema once, before W workers all open the same new database."""
    store = await open_store(url)
    await store.close()


def one_run(
    args: argparse.Namespace,
    postgres: PostgresServer,
    base: Path,
    meters: int,
    workers: int,
    sim_pid: int,
    work: Path,
) -> Run:
    """A fresh nats-server (fresh streams and buckets) and a fresh database for one run."""
    label = f"{meters}m-{workers}w"
    nats_server = NatsServer(free_port(), work / f"nats-{label}")
    database = postgres.create_database()
    url = postgres.url(database)
    try:
        nats_server.start()
        cluster: dict[str, Any] = {"nats_url": nats_server.url}
        if args.worker_jobs is not None:
            cluster["worker_jobs"] = args.worker_jobs
        settings = ClusterSettings.model_validate(cluster)
        config = run_config(base, work / f"{label}.toml", url, cluster)
        asyncio.run(_migrate(url))
        assert nats_server.pid is not None
        pids = Servers(simulator=sim_pid, nats=nats_server.pid, postgres=postgres.pid)
        run = asyncio.run(
            measure(label, config, meters, workers, settings, pids, work, args.start_timeout_s)
        )
        counted = postgres.psql("SELECT count(*), count(DISTINCT meter_id) FROM readings", database)
        readings, stored = (int(x) for x in counted.strip().split("|"))
        run.readings, run.meters_stored = readings, stored
        config.unlink()
    finally:
        nats_server.remove()
        postgres.drop_database(database)
    print(
        f"{label}: {run.wall_s:.1f} s, {run.meters_per_s:.0f} meters/s, "
        f"{run.failed} failed, worker RSS {run.peak_rss_mb_per_worker:.0f} MB",
        file=sys.stderr,
    )
    return run


def worker_counts(text: str) -> list[int]:
    counts = [int(x) for x in text.split(",") if x.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("worker counts are positive integers: 1,2,4")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=20_000)
    parser.add_argument("--workers", type=worker_counts, default=[1, 2, 4])
    parser.add_argument("--big", type=int, default=100_000, help="0: no big run")
    parser.add_argument("--big-workers", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument(
        "--worker-jobs", type=int, default=None, help="[cluster] worker_jobs (default: its own)"
    )
    parser.add_argument("--start-timeout-s", type=float, default=600.0)
    args = parser.parse_args()
    runs: list[Run] = []
    big: Run | None = None
    with tempfile.TemporaryDirectory(prefix="scale-out-") as tmp:
        work = Path(tmp)
        postgres = PostgresServer.start(free_port())
        try:
            sim, base = serve_fleet(args.meters, args.latency_ms, work, args.start_timeout_s)
            try:
                for count in args.workers:
                    runs.append(one_run(args, postgres, base, args.meters, count, sim.pid, work))
            finally:
                stop_process(sim, 30)
            if args.big:
                sim, base = serve_fleet(args.big, args.latency_ms, work, args.start_timeout_s)
                try:
                    big = one_run(args, postgres, base, args.big, args.big_workers, sim.pid, work)
                finally:
                    stop_process(sim, 30)
        finally:
            postgres.stop()
    report(args, runs, big)


# -- report ------------------------------------------------------------------------------------


def report(args: argparse.Namespace, runs: list[Run], big: Run | None) -> None:
    table = Table(
        title=f"plan '{PLAN}' through NATS JetStream and PostgreSQL, meters at "
        f"{args.latency_ms:g} ms"
    )
    for column in (
        "meters", "workers", "ok", "failed", "wall s", "meters/s", "span s",
        "CPU ms/meter", "worker CPU s", "worker RSS MB", "sched CPU s", "sched RSS MB",
        "sim CPU s", "NATS CPU s", "PG CPU s", "cores busy", "queue max",
        "latency p50/p95/max s", "readings",
    ):  # fmt: skip
        table.add_column(column, justify="right")
    every = [*runs, *([big] if big else [])]
    for run in every:
        table.add_row(
            str(run.meters),
            str(run.workers),
            str(run.ok),
            str(run.failed),
            f"{run.wall_s:.1f}",
            f"{run.meters_per_s:.0f}",
            f"{run.span_s:.1f}",
            f"{run.cpu_ms_per_meter:.2f}",
            " ".join(f"{c:.0f}" for c in run.worker_cpu_s),
            " ".join(f"{r:.0f}" for r in run.worker_rss_mb),
            f"{run.scheduler_cpu_s:.1f}",
            f"{run.scheduler_rss_mb:.0f}",
            f"{run.sim_cpu_s:.1f}",
            f"{run.nats_cpu_s:.1f}",
            f"{run.postgres_cpu_s:.1f}",
            f"{100 * run.machine_busy:.0f} %",
            str(run.depth_max),
            f"{run.latency(0.5):.2f}/{run.latency(0.95):.2f}/{run.latency(1.0):.2f}",
            str(run.readings),
        )
    console = Console(width=200)
    console.print(table)
    for run in every:
        depth = " ".join(f"{w + r}" for _, w, r in run.depth_points(20))
        console.print(
            f"{run.meters} meters, {run.workers} workers: queue depth (waiting + running) "
            f"over the run: {depth}; jobs seen {run.jobs_published}, reports "
            f"{len(run.latencies)}; observer CPU {run.observer_cpu_s:.1f} s"
        )
    out = figures(args, runs, big)
    console.print(
        f"2 workers / 1 worker: {out['scaling_2x']} in meters/s, {out['scaling_2x_span']} over "
        f"the span; targets: {out['targets']}"
    )
    print(json.dumps(out))


def _figures_of(run: Run) -> dict[str, Any]:
    return {
        "meters_per_s": round(run.meters_per_s, 1),
        "wall_s": round(run.wall_s, 2),
        "span_s": round(run.span_s, 2),
        "peak_rss_mb_per_worker": round(run.peak_rss_mb_per_worker, 1),
        "worker_cpu_s": [round(c, 2) for c in run.worker_cpu_s],
        "cpu_ms_per_meter": round(run.cpu_ms_per_meter, 3),
        "scheduler_cpu_s": round(run.scheduler_cpu_s, 2),
        "scheduler_peak_rss_mb": round(run.scheduler_rss_mb, 1),
        "sim_cpu_s": round(run.sim_cpu_s, 2),
        "nats_cpu_s": round(run.nats_cpu_s, 2),
        "postgres_cpu_s": round(run.postgres_cpu_s, 2),
        "machine_busy": round(run.machine_busy, 3),
        "ok": run.ok,
        "partial": run.partial,
        "failed": run.failed,
        "readings": run.readings,
        "meters_stored": run.meters_stored,
        "jobs": run.jobs_published,
        "jobs_reported": len(run.latencies),
        "latency_s": {
            "p50": round(run.latency(0.5), 3),
            "p95": round(run.latency(0.95), 3),
            "max": round(run.latency(1.0), 3),
        },
        "queue_depth_max": run.depth_max,
        "queue_depth": run.depth_points(),
        "worker_exit": run.worker_exit,
    }


def figures(args: argparse.Namespace, runs: list[Run], big: Run | None) -> dict[str, Any]:
    """Per worker count (keys are the counts as text), then the big run's figures as big_*."""
    out: dict[str, Any] = {"meters": args.meters, "workers": [r.workers for r in runs]}
    per_count = {str(run.workers): _figures_of(run) for run in runs}
    for name in next(iter(per_count.values()), {}):
        out[name] = {count: values[name] for count, values in per_count.items()}
    by_count = {run.workers: run for run in runs}
    one, two = by_count.get(1), by_count.get(2)
    out["scaling_2x"] = (
        round(two.meters_per_s / one.meters_per_s, 2) if one and two and one.meters_per_s else None
    )
    # the same ratio over the span the workers share, without the scheduler's start-up (a few
    # seconds of loading the fleet file and planning, the same whatever the number of workers)
    out["scaling_2x_span"] = (
        round(one.span_s / two.span_s, 2) if one and two and two.span_s else None
    )
    if big is not None:
        out["big_meters"], out["big_workers"] = big.meters, big.workers
        out.update({f"big_{name}": value for name, value in _figures_of(big).items()})
    rss = [r.peak_rss_mb_per_worker for r in [*runs, *([big] if big else [])]]
    out["targets"] = {
        "big_wall_s_le_600": big.wall_s <= TARGET_BIG_S if big and big.meters >= 100_000 else None,
        "scaling_2x_ge_1_7": out["scaling_2x"] >= TARGET_SCALING if out["scaling_2x"] else None,
        "rss_per_worker_lt_1024_mb": max(rss, default=0.0) < TARGET_RSS_MB,
    }
    return out


if __name__ == "__main__":
    main()
