"""The head-end on several processes: `headend collect --role scheduler` publishes a plan's
channel jobs to a real nats-server, `headend run --role worker` processes read a simulated fleet
(`headend simulate`) into a real PostgreSQL database (issue 11's must-shows)."""

from __future__ import annotations

import contextlib
import itertools
import json
import signal
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from headend.cluster.connection import Cluster, open_cluster
from headend.cluster.dead_letters import dead_letters
from headend.cluster.heartbeats import WorkerBeat, workers
from headend.cluster.leases import ChannelLeases
from headend.cluster.settings import ClusterSettings
from headend.cluster.status import cluster_status
from headend.events.model import HeadendEvent
from tests.cluster_e2e.support import (
    DEAD_CHANNEL,
    DEAD_METER,
    PLAN,
    Database,
    Process,
    Worker,
    cluster_fleet,
    collect,
    kill,
    until,
)
from tests.headend.subprocess_cli import headend
from tests.nats_server import NatsServer

HALF_DUPLEX = ("dc01", "dc02", "dlt01")  # concentrators and the DL/T 645 line: one session each
CONCENTRATORS = ("dc01", "dc02")  # six meters each: a job of several seconds
POINTS = 7  # the plan's registers, every simulated meter has them all


def fleet_ids(config: Path) -> tuple[dict[str, str], list[str]]:
    """Each meter's channel, and the meter ids in fleet order."""
    data = tomllib.loads(config.read_text())
    return {m["id"]: m["channel"] for m in data["meters"]}, [m["id"] for m in data["meters"]]


def plan_points(config: Path) -> list[str]:
    data = tomllib.loads(config.read_text())
    points: list[str] = next(p["points"] for p in data["plans"] if p["name"] == PLAN)
    return points


def cluster_of(config: Path) -> tuple[ClusterSettings, str]:
    data = tomllib.loads(config.read_text())
    return ClusterSettings.model_validate(data["cluster"]), data["site"]["name"]


def refusal_fleets(directory: Path) -> tuple[Path, Path]:
    """A fleet file without [cluster] on SQLite, and one with [cluster] on SQLite."""
    plain = directory / "plain.toml"
    plain.write_text(
        '[site]\nname = "s1"\ndatabase = "site.sqlite3"\n\n'
        '[[channels]]\nid = "line"\nhost = "127.0.0.1"\nport = 1\n\n'
        '[[meters]]\nid = "m1"\nprotocol = "dlt645"\nchannel = "line"\naddress = "000000000001"\n\n'
        '[[plans]]\nname = "daily"\npoints = ["1.0.1.8.0.255"]\n'
    )
    clustered = directory / "clustered.toml"
    clustered.write_text(plain.read_text() + '\n[cluster]\nnats_url = "nats://127.0.0.1:4222"\n')
    return plain, clustered


@contextlib.asynccontextmanager
async def watching(config: Path) -> AsyncIterator[Cluster]:
    """The test's own connection to the cluster, to see heartbeats, leases and queues."""
    settings, site = cluster_of(config)
    cluster = await open_cluster(settings, site, environ={})
    try:
        yield cluster
    finally:
        await cluster.close()


@contextlib.asynccontextmanager
async def processes(*started: Process) -> AsyncIterator[None]:
    """Whatever happens in the body, no process is left behind."""
    try:
        yield
    finally:
        for process in started:
            await process.close()


async def start_workers(directory: Path, config: Path, cluster: Cluster, n: int) -> list[Worker]:
    started = [Worker(directory, config, f"w{i}") for i in range(1, n + 1)]
    for worker in started:
        await worker.start()

    async def all_beating() -> bool:
        for worker in started:
            assert worker.alive(), f"worker {worker.worker_id} exited: {worker.log()[-3000:]}"
        return {b.worker_id for b in await workers(cluster)} >= {w.worker_id for w in started}

    await until(all_beating, "every worker's first heartbeat")
    return started


async def holding(cluster: Cluster, channels: tuple[str, ...]) -> tuple[WorkerBeat, str, str]:
    """A worker holding a job on one of `channels` (as its heartbeat says): (beat, job, channel)."""
    found: list[tuple[WorkerBeat, str, str]] = []

    async def seen() -> bool:
        for beat in await workers(cluster):
            for job in beat.jobs_held:
                if job.channel_id in channels:
                    found.append((beat, job.job_id, job.channel_id))
                    return True
        return False

    await until(seen, f"a worker holding a job on {channels}")
    return found[0]


def report_of(process: Process) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(process.output())
    return report


async def test_a_worker_killed_in_a_job_loses_nothing_and_reuses_no_counter(
    tmp_path: Path, nats_server: NatsServer, pg_url: str, simulated_fleet: Path
) -> None:
    config = cluster_fleet(
        simulated_fleet, tmp_path / "fleet.toml", database=pg_url, nats_url=nats_server.url
    )
    channel_of, meters = fleet_ids(config)
    db = Database(pg_url)
    await db.install_counter_log()
    async with watching(config) as cluster:
        crew = await start_workers(tmp_path, config, cluster, 3)
        run = collect(tmp_path, config)
        async with processes(*crew, run):
            await run.start()
            beat, job_id, channel = await holding(cluster, CONCENTRATORS)
            victim = next(w for w in crew if w.worker_id == beat.worker_id)

            async def partly_read() -> bool:  # the first of its six meters stored, not all
                found = await db.fetch(
                    "SELECT DISTINCT meter_id FROM readings WHERE meter_id = ANY($1::text[])",
                    [m for m in meters if channel_of[m] == channel],
                )
                read_first.update(r["meter_id"] for r in found)
                return bool(found)

            read_first: set[str] = set()
            await until(partly_read, f"a meter of {channel} stored")
            still = {b.worker_id: b for b in await workers(cluster)}[victim.worker_id]
            assert job_id in {j.job_id for j in still.jobs_held}  # in the middle of the job
            lease = await ChannelLeases(cluster.leases_kv, 3.0).holder(channel)
            assert lease is not None and lease.holder == victim.worker_id
            kill(victim)
            assert await victim.wait() == -signal.SIGKILL

            assert await run.wait() == 0, run.log()[-3000:]
            survivors = [w for w in crew if w is not victim]
            # the concentrator jobs it held were redelivered and another worker finished them
            # (-v: a line per job done); a one-meter job it held may have ended before the kill
            for held in (j for j in still.jobs_held if j.channel_id in CONCENTRATORS):
                line = f"job {held.job_id} (channel {held.channel_id}, bulk lane"
                finished = [w for w in survivors if line in w.log()]
                assert len(finished) == 1, [w.log()[-2000:] for w in survivors]

            # the dead worker's lease expired: nobody holds the channel once all is done
            async def free() -> bool:
                return await ChannelLeases(cluster.leases_kv, 3.0).holder(channel) is None

            await until(free, f"the lease of {channel} to go")
            status = await cluster_status(cluster)
            assert [(lane.waiting, lane.running) for lane in status.lanes] == [(0, 0), (0, 0)]
            assert status.dead_letters == 0
            for worker in survivors:
                assert await worker.signal(signal.SIGTERM) == 0, worker.log()[-3000:]

    report = report_of(run)
    assert sorted(m["meter_id"] for m in report["meters"]) == sorted(meters)
    assert {m["meter_id"]: m["status"] for m in report["meters"]} == dict.fromkeys(meters, "ok")
    # every meter's every register is stored ...
    rows = await db.fetch(
        "SELECT meter_id, count(DISTINCT obis) AS points, count(*) AS n FROM readings "
        "GROUP BY meter_id"
    )
    assert {r["meter_id"]: r["points"] for r in rows} == dict.fromkeys(meters, POINTS)
    # ... once: one row per key, nothing in conflict, and a meter read by one delivery only
    # has exactly one reading per register (the killed job's meters may have been read by both
    # deliveries: registers read at two times are two readings, each stored once)
    twice = await db.fetch(
        "SELECT meter_id, obis, capture_time FROM readings "
        "GROUP BY meter_id, obis, capture_time HAVING count(*) > 1"
    )
    assert twice == []
    assert await db.fetch("SELECT * FROM reading_conflicts") == []
    lost_channels = {j.channel_id for j in still.jobs_held}  # every job the dead worker held
    on_killed = {m for m in meters if channel_of[m] in lost_channels}
    assert {r["meter_id"]: r["n"] for r in rows if r["meter_id"] not in on_killed} == {
        m: POINTS for m in meters if m not in on_killed
    }
    # no invocation counter handed out twice: each key's reserved blocks follow one another
    # without overlap, whichever worker (database connection) took them; and the meters, which
    # refuse a counter they have seen, accepted every frame (every meter read ok above)
    blocks = await db.client_counter_blocks()
    assert blocks, "ciphered meters reserve counters"
    by_key: dict[str, list[tuple[int, int]]] = {}
    for block in blocks:
        by_key.setdefault(block["key"], []).append((block["old_value"], block["new_value"]))
    for key, spans in by_key.items():
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, f"{key}: counter blocks overlap: {spans}"
    assert len({(b["backend"], b["client_port"]) for b in blocks}) > 1  # several workers
    # a meter the killed worker read was read again by the worker that finished the job: its
    # counters come from blocks of both, one after the other
    again = [key for key in by_key if any(f"dlms:{m}:" in key for m in read_first)]
    assert again
    for key in again:
        takers = {(b["backend"], b["client_port"]) for b in blocks if b["key"] == key}
        assert len(takers) >= 2, f"{key}: {by_key[key]}"


async def test_a_job_that_always_fails_is_dead_lettered_with_an_event(
    tmp_path: Path, nats_server: NatsServer, pg_url: str, simulated_fleet: Path
) -> None:
    config = cluster_fleet(
        simulated_fleet,
        tmp_path / "fleet.toml",
        database=pg_url,
        nats_url=nats_server.url,
        dead_channel=True,
    )
    _site, meters = fleet_ids(config)
    async with watching(config) as cluster:
        crew = await start_workers(tmp_path, config, cluster, 2)
        run = collect(tmp_path, config)
        async with processes(*crew, run):
            await run.start()
            assert await run.wait() == 1, run.log()[-3000:]  # not every meter read
            letters = await dead_letters(cluster)
            for worker in crew:
                assert await worker.signal(signal.SIGTERM) == 0
    report = {m["meter_id"]: m for m in report_of(run)["meters"]}
    assert report[DEAD_METER]["status"] == "failed"
    assert report[DEAD_METER]["cause"] == "dead letter"
    assert {m: r["status"] for m, r in report.items() if m != DEAD_METER} == {
        m: "ok" for m in meters if m != DEAD_METER
    }
    assert len(letters) == 1
    letter = letters[0]
    assert letter.job is not None and letter.job.channel_id == DEAD_CHANNEL
    assert letter.deliveries == 3 and "channel down" in letter.reason
    events = await Database(pg_url).fetch(
        "SELECT channel_id, text, cause FROM events WHERE code = $1",
        int(HeadendEvent.JOB_DEAD_LETTER),
    )
    assert len(events) == 1
    event = events[0]
    assert event["channel_id"] == DEAD_CHANNEL and event["cause"] == "dead letter"
    assert letter.job.job_id in event["text"] and DEAD_CHANNEL in event["text"]
    assert "3 deliveries" in event["text"] and "channel down" in event["text"]


async def test_nats_restarted_mid_run_loses_no_job(
    tmp_path: Path, nats_server: NatsServer, pg_url: str, simulated_fleet: Path
) -> None:
    config = cluster_fleet(
        simulated_fleet, tmp_path / "fleet.toml", database=pg_url, nats_url=nats_server.url
    )
    _site, meters = fleet_ids(config)
    async with watching(config) as cluster:
        crew = await start_workers(tmp_path, config, cluster, 2)
        run = collect(tmp_path, config)
        async with processes(*crew, run):
            await run.start()
            await holding(cluster, HALF_DUPLEX)
            await cluster.nc.flush()
            nats_server.restart()  # same port, same store directory

            assert await run.wait() == 0, run.log()[-3000:]
            for worker in crew:
                assert worker.alive(), worker.log()[-3000:]
                assert await worker.signal(signal.SIGTERM) == 0, worker.log()[-3000:]
    report = report_of(run)
    assert {m["meter_id"]: m["status"] for m in report["meters"]} == dict.fromkeys(meters, "ok")
    rows = await Database(pg_url).fetch(
        "SELECT meter_id, count(DISTINCT obis) AS points FROM readings GROUP BY meter_id"
    )
    assert {r["meter_id"]: r["points"] for r in rows} == dict.fromkeys(meters, POINTS)


async def test_status_of_a_scheduler_shows_the_workers_and_their_jobs(
    tmp_path: Path, nats_server: NatsServer, pg_url: str, simulated_fleet: Path
) -> None:
    config = cluster_fleet(
        simulated_fleet, tmp_path / "fleet.toml", database=pg_url, nats_url=nats_server.url
    )
    scheduler = Process(
        tmp_path, "scheduler", "run", "--config", str(config), "--role", "scheduler"
    )
    async with watching(config) as cluster:
        crew = await start_workers(tmp_path, config, cluster, 1)
        run = collect(tmp_path, config)
        async with processes(*crew, run, scheduler):
            await scheduler.start()
            await run.start()
            _beat, job_id, channel = await holding(cluster, HALF_DUPLEX)
            shown: dict[str, Any] = {}

            async def answers() -> bool:
                assert scheduler.alive(), scheduler.log()[-3000:]
                status, out, err = await headend("status", "--config", str(config), "--json")
                assert status == 0, err
                shown.update(json.loads(out))
                return bool(shown.get("running"))

            await until(answers, "the scheduler to answer on its control socket")
            section = shown["cluster"]
            assert [w["worker_id"] for w in section["workers"]] == ["w1"]
            worker = section["workers"][0]
            assert worker["pid"] == crew[0].pid and worker["host"]
            held = {(j["job_id"], j["channel_id"]) for j in worker["jobs_held"]}
            assert {lane["lane"] for lane in section["lanes"]} == {"priority", "bulk"}
            # the job seen held a moment ago may be done by now; then it is in the counts
            assert (job_id, channel) in held or worker["jobs_done"] >= 1
            status, text, err = await headend("status", "--config", str(config))
            assert status == 0, err
            assert "workers" in text and "w1" in text and "bulk" in text
            assert await run.wait() == 0, run.log()[-3000:]
            assert await scheduler.signal(signal.SIGTERM) == 0, scheduler.log()[-3000:]
            assert await crew[0].signal(signal.SIGTERM) == 0


async def test_the_cluster_roles_are_refused_without_a_cluster_or_postgresql(
    tmp_path: Path,
) -> None:
    plain, clustered = refusal_fleets(tmp_path)
    for role in ("worker", "scheduler"):
        status, _out, err = await headend("run", "--config", str(plain), "--role", role)
        assert status == 2
        assert f"role {role} needs a [cluster] section" in err and "PostgreSQL" in err
        status, _out, err = await headend("run", "--config", str(clustered), "--role", role)
        assert status == 2
        assert "[cluster]" not in err and "PostgreSQL store" in err and "SQLite" in err
    status, _out, err = await headend(
        "collect", "--config", str(clustered), "--plan", "daily", "--role", "scheduler"
    )
    assert status == 2 and "role scheduler needs a PostgreSQL store" in err


async def test_a_schedulers_planned_runs_and_on_demand_reads_go_through_the_workers(
    tmp_path: Path, nats_server: NatsServer, pg_url: str, simulated_fleet: Path
) -> None:
    # "every 5 minutes" on the simulated clock (x60): a run every few seconds
    config = cluster_fleet(
        simulated_fleet,
        tmp_path / "fleet.toml",
        database=pg_url,
        nats_url=nats_server.url,
        scheduled=("instantaneous",),
    )
    channel_of, meters = fleet_ids(config)
    # a meter of its own channel: a half-duplex one may be busy with the bulk job meanwhile
    alone = next(m for m in meters if channel_of[m] not in HALF_DUPLEX)
    db = Database(pg_url)
    scheduler = Process(
        tmp_path, "scheduler", "-v", "run", "--config", str(config), "--role", "scheduler"
    )
    async with watching(config) as cluster:
        crew = await start_workers(tmp_path, config, cluster, 2)
        async with processes(*crew, scheduler):
            await scheduler.start()
            runs: list[Any] = []

            async def a_run_stored() -> bool:
                assert scheduler.alive(), scheduler.log()[-3000:]
                runs[:] = await db.fetch("SELECT * FROM runs WHERE plan = 'instantaneous'")
                return bool(runs)

            await until(a_run_stored, "a scheduled run of the plan")
            # an on-demand read, served by the scheduler on the priority lane
            status, out, err = await headend(
                "read", "--config", str(config), "--plan", PLAN, "--json", alone
            )
            assert status == 0, err + scheduler.log()[-3000:]
            # the worker stored them; the scheduler's answer has them, read back from the store
            answer = [json.loads(line) for line in out.splitlines() if line.strip()]
            assert {(row["meter"], row["obis"]) for row in answer} == {
                (alone, obis) for obis in plan_points(config)
            }
            assert len(answer) == POINTS
            assert await scheduler.signal(signal.SIGTERM) == 0, scheduler.log()[-3000:]
            logs = "".join(w.log() for w in crew)
            for worker in crew:
                assert await worker.signal(signal.SIGTERM) == 0
    run = runs[0]
    assert run["attempted"] == len(meters) and run["failed"] == 0, dict(run)
    assert run["readings"] > 0
    assert "instantaneous" in logs and "priority lane" in logs  # both lanes ran on workers
    rows = await db.fetch("SELECT DISTINCT meter_id FROM readings WHERE obis = '1.0.1.7.0.255'")
    assert {r["meter_id"] for r in rows} == set(meters)
