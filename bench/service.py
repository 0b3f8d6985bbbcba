"""Service benchmark: `headend run` on a generated fleet through hours of accelerated time.

    python -m bench.service [--meters N] [--hours H] [--factor F] [--start ISO]
                           [--latency-ms MS] [--lag-meters K] [--sample-s S]

`headend simulate --meters N --start ISO --factor F` serves a generated fleet (GPRS meters, DLMS
concentrators, Modbus gateways, DL/T 645 lines) whose simulated clock starts at ISO (default:
22:00 UTC today, so that six hours cross midnight) and runs F times faster than real time (10:
six simulated hours take 36 real minutes, a 15-minute interval 90 real seconds). `headend run`
then serves that fleet file with the generated default plans: load-profile with event logs every
15 minutes, instantaneous every 5 minutes, daily-billing at 00:05 with its 3-day back-fill,
clock-check at 03:00 (monthly-billing when the window crosses the 1st), a SQLite site database,
and both sinks on: a mosquitto broker and a VictoriaMetrics (InfluxDB write API), started here on
free loopback ports. The simulator runs on the same 2 cores, so its CPU is shown too.

The window is `--hours` of simulated time from the moment the head-end answers on its control
socket; runs scheduled inside it are counted, and the bench waits for those still in progress at
its end before stopping the head-end (SIGTERM; `[service] shutdown_grace_s` is 60 s, so a run
begun after the window usually finishes rather than being cancelled). Measured:

- per plan, from the stored run statistics: runs, meters per run, duration p50/p95/max (real
  seconds, the collection's own measure) and "done after fire": how long after its scheduled
  fire time (mapped to real time through the clock's origin, start and factor) a run finished
  (it also counts the scheduler's and the store's work before the reading starts);
  collection rate = (ok + partial) / attempted over the window's runs (no meter is made to
  fail, so every meter is reachable);
- the outbox, by asking the control socket for the status every `--sample-s` real seconds (what
  `headend status --json` shows): per sink the depth and the age of its oldest undelivered entry
  (status `now` - `oldest_at`, both real time), summarised and shown per simulated half hour;
- delivery lag, end to end: an MQTT subscriber here, on the reading topics of `--lag-meters`
  meters spread over the fleet, takes arrival time - the reading's `receive_time` (the wall
  clock when the head-end received the value from the meter). That is the outbox's lag plus the
  time from the meter's answer to its commit in the store, so an upper bound of the outbox lag:
  `outbox_lag_s_p95` is its 95th percentile; the status samples' oldest-entry age is the
  InfluxDB sink's view (`outbox_age_s_max`);
- the head-end's CPU (utime + stime from /proc at the window's end, before the shutdown) and
  peak RSS (VmHWM), CPU per simulated hour (that CPU, its start-up included, over the
  simulated time from its first answer to that point).

Targets (issue 8, 10,000 meters on 2 cores): every profile run done within 60 s of its start,
collection >= 99.9 %, outbox lag < 30 s, peak RSS < 1 GiB. The last line printed is one JSON
object of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.proc_stats import cpu_s, or_zero, peak_rss_mb
from headend.runs.model import RunStats
from headend.service.control import ask
from headend.simulation.generator import to_toml
from headend.store.sqlite import SqliteStore
from tests.brokers import Mosquitto, VictoriaMetrics
from tests.conftest import free_port

HEADEND = [sys.executable, "-m", "headend.cli.main"]
PROFILE_PLAN = "load-profile"
MQTT_USER = "headend"
TOPIC_PREFIX = "bench"
SCHEDULED = ("schedule", "catch-up")


@dataclass(frozen=True)
class SimulatedTime:
    """The fleet's clock as its file names it: simulated = start + (wall - origin) * factor."""

    origin: datetime
    start: datetime
    factor: float

    def wall(self, simulated: datetime) -> datetime:
        return self.origin + (simulated - self.start) / self.factor


@dataclass(frozen=True)
class Sample:
    real_s: float  # since the head-end answered
    clock: datetime  # the service clock (simulated)
    depth: dict[str, int]  # per sink
    age_s: dict[str, float]  # per sink: age of the oldest undelivered entry (0 when none)
    delivered: dict[str, int]  # per sink, since the head-end started
    in_progress: int


@dataclass
class Observation:
    window: tuple[datetime, datetime]  # simulated: head-end ready .. ready + hours
    clock_end: datetime  # the service clock when CPU and RSS were taken
    samples: list[Sample] = field(default_factory=list)
    lags_s: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    sim_cpu_s: float = 0.0
    drained: bool = False
    probe_error: str | None = None  # why the MQTT lag probe stopped early, if it did


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


# -- processes --------------------------------------------------------------------------------


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADEND_")}
    env.update(extra)
    return env


def start_fleet(args: argparse.Namespace, work: Path) -> tuple[subprocess.Popen[bytes], Path]:
    config = work / "fleet.toml"
    command = [
        *HEADEND,
        "simulate",
        "--meters", str(args.meters),
        "--concentrators", str(args.concentrators),
        "--meters-per-concentrator", str(args.meters_per_concentrator),
        "--modbus-gateways", str(args.modbus_gateways),
        "--dlt645-lines", str(args.dlt645_lines),
        "--latency-ms", f"{args.latency_ms:g}",
        "--factor", f"{args.factor:g}",
        "--start", args.start.isoformat(),
        "--history", args.history,
        "--gprs-port", str(free_port()),
        "--write-config", str(config),
    ]  # fmt: skip
    log = work / "simulate.log"
    with log.open("ab") as err:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=child_env({}))
    deadline = time.monotonic() + args.start_timeout_s
    # `headend simulate` writes the fleet file (by a rename) once every endpoint listens
    while not config.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise SystemExit(f"headend simulate did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)
    return proc, config


def write_run_config(fleet_file: Path, work: Path, mqtt_port: int, influx_url: str) -> Path:
    """The simulator's fleet file made runnable by `headend run`: site database and control
    socket in the work directory, both sinks (their secrets come from the environment)."""
    data = tomllib.loads(fleet_file.read_text())
    data["site"]["database"] = str(work / "site.sqlite3")
    # a run still in progress when the bench stops the head-end may finish rather than be cut
    data["service"] = {"control_socket": str(work / "headend.sock"), "shutdown_grace_s": 60.0}
    data["sinks"] = {
        "mqtt": {
            "host": "127.0.0.1",
            "port": mqtt_port,
            "username": MQTT_USER,
            "topic_prefix": TOPIC_PREFIX,
        },
        "influxdb": {"url": influx_url, "org": "bench", "bucket": "metering"},
    }
    path = work / "run.toml"
    path.write_text(to_toml(data))
    return path


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- observing the running service -------------------------------------------------------------


async def status(socket_path: Path) -> dict[str, Any] | None:
    try:
        answer = await ask(socket_path, {"op": "status"}, timeout_s=60.0)
    except (ConnectionError, OSError, TimeoutError, ValueError):
        return None
    return answer if answer.get("ok") else None


def sample_of(answer: dict[str, Any], real_s: float) -> Sample:
    now = datetime.fromisoformat(answer["now"])
    depth: dict[str, int] = {}
    age: dict[str, float] = {}
    delivered: dict[str, int] = {}
    for sink in answer["sinks"]:
        name = sink["sink"]
        depth[name] = sink["depth"]
        oldest = sink["oldest_at"]
        age[name] = (now - datetime.fromisoformat(oldest)).total_seconds() if oldest else 0.0
        delivered[name] = sink["delivered"]
    return Sample(
        real_s=real_s,
        clock=datetime.fromisoformat(answer["clock"]),
        depth=depth,
        age_s=age,
        delivered=delivered,
        in_progress=len(answer["in_progress"]),
    )


async def subscribe_lags(
    port: int, password: str, meters: Sequence[str], lags: list[float], ready: asyncio.Event
) -> None:
    """Delivery lag of every reading of `meters` that reaches the broker: arrival - receive_time.
    A message is a meter's group of readings (`{"readings": [...]}`) or, with
    `readings_per_message = 1`, one reading."""
    async with aiomqtt.Client(
        "127.0.0.1", port, username=MQTT_USER, password=password, identifier="bench-lag"
    ) as client:
        await client.subscribe([(f"{TOPIC_PREFIX}/meter/{m}/reading", 0) for m in meters])
        ready.set()
        async for message in client.messages:
            arrived = time.time()
            payload = message.payload
            if not isinstance(payload, bytes | bytearray):
                continue
            body = json.loads(payload)
            for reading in body.get("readings", [body]):
                received = datetime.fromisoformat(reading["receive_time"])
                lags.append(arrived - received.timestamp())


async def observe(
    args: argparse.Namespace,
    headend: subprocess.Popen[bytes],
    socket_path: Path,
    mqtt_port: int,
    password: str,
    lag_meters: Sequence[str],
    sim_pid: int,
) -> Observation:
    deadline = time.monotonic() + args.start_timeout_s
    while (answer := await status(socket_path)) is None:
        if headend.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("headend run did not answer on its control socket (see its log)")
        await asyncio.sleep(0.2)
    ready_real = time.monotonic()
    ready_clock = datetime.fromisoformat(answer["clock"])
    window_end = ready_clock + timedelta(hours=args.hours)
    seen = Observation(window=(ready_clock, window_end), clock_end=ready_clock)
    subscribed = asyncio.Event()
    subscriber = asyncio.create_task(
        subscribe_lags(mqtt_port, password, lag_meters, seen.lags_s, subscribed)
    )
    await asyncio.wait_for(subscribed.wait(), timeout=60)
    sim_cpu_before = or_zero(cpu_s, sim_pid)
    console = Console(stderr=True)
    try:
        # the window, then the runs scheduled inside it that are still in progress
        while True:
            await asyncio.sleep(args.sample_s)
            if headend.poll() is not None:
                raise SystemExit(f"headend run exited ({headend.returncode}); see its log")
            answer = await status(socket_path)
            if answer is None:
                continue
            sample = sample_of(answer, time.monotonic() - ready_real)
            seen.samples.append(sample)
            seen.peak_rss_mb = max(seen.peak_rss_mb, or_zero(peak_rss_mb, headend.pid))
            if len(seen.samples) % max(1, round(60 / args.sample_s)) == 0:
                console.print(
                    f"[dim]{sample.clock:%H:%M} simulated, {sample.real_s:.0f} s: "
                    f"{sample.in_progress} runs in progress, outbox "
                    + ", ".join(f"{k} {v}" for k, v in sample.depth.items())
                )
            if sample.clock < window_end:
                continue
            open_runs = [
                r
                for r in answer["in_progress"]
                if r["scheduled_for"] is not None
                and datetime.fromisoformat(r["scheduled_for"]) <= window_end
            ]
            if not open_runs:
                break
            if sample.clock > window_end + timedelta(seconds=args.grace_s * args.factor):
                console.print(f"runs still in progress after the grace: {open_runs}", markup=False)
                break
        seen.cpu_s = or_zero(cpu_s, headend.pid)
        seen.peak_rss_mb = max(seen.peak_rss_mb, or_zero(peak_rss_mb, headend.pid))
        seen.sim_cpu_s = or_zero(cpu_s, sim_pid) - sim_cpu_before
        seen.clock_end = seen.samples[-1].clock
        # whether the outbox catches up (depth 0 on every sink) soon after the window
        drain_until = time.monotonic() + args.drain_s
        while time.monotonic() < drain_until:
            answer = await status(socket_path)
            if answer is not None:
                sample = sample_of(answer, time.monotonic() - ready_real)
                seen.samples.append(sample)
                if not any(sample.depth.values()):
                    seen.drained = True
                    break
            await asyncio.sleep(min(args.sample_s, 1.0))
        await asyncio.sleep(1.0)  # the last messages on their way to the subscriber
    finally:
        subscriber.cancel()
        try:
            await subscriber
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # the probe's failure is reported, the figures still count
            seen.probe_error = repr(exc)
    return seen


async def stored_runs(db: Path) -> tuple[list[RunStats], int]:
    async with await SqliteStore.open(db) as store:
        return await store.runs(), await store.count_readings()


def spread(ids: Sequence[str], count: int) -> list[str]:
    """`count` ids taken evenly over `ids` (every kind of meter is in the sample)."""
    if count >= len(ids):
        return list(ids)
    step = len(ids) / count
    return [ids[int(i * step)] for i in range(count)]


# -- the benchmark ----------------------------------------------------------------------------


@dataclass
class Result:
    args: argparse.Namespace
    clock: SimulatedTime
    seen: Observation
    runs: list[RunStats]  # scheduled inside the window
    readings: int
    exit_code: int
    log_problems: list[str]  # the head-end's WARNING and ERROR lines


def run_bench(args: argparse.Namespace) -> Result:
    work = Path(tempfile.mkdtemp(prefix="headend-bench-"))
    password = secrets.token_urlsafe(18)  # a throwaway broker's; never printed
    token = secrets.token_urlsafe(18)
    mqtt = Mosquitto(free_port(), users={MQTT_USER: password})
    influx = VictoriaMetrics(free_port())
    try:
        mqtt.start()
        influx.start()
        sim, fleet_file = start_fleet(args, work)
        try:
            config = write_run_config(fleet_file, work, mqtt.port, influx.url)
            data = tomllib.loads(config.read_text())
            simulation = data["simulation"]
            clock = SimulatedTime(
                simulation["clock_origin"], simulation["clock_start"], simulation["factor"]
            )
            meter_ids = [m["id"] for m in data["meters"]]
            log = work / "headend.log"
            env = child_env({"HEADEND_MQTT_PASSWORD": password, "HEADEND_INFLUXDB_TOKEN": token})
            with log.open("ab") as err:
                headend = subprocess.Popen(
                    [*HEADEND, "run", "--config", str(config)],
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    env=env,
                )
            try:
                seen = asyncio.run(
                    observe(
                        args,
                        headend,
                        Path(data["service"]["control_socket"]),
                        mqtt.port,
                        password,
                        spread(meter_ids, args.lag_meters),
                        sim.pid,
                    )
                )
            finally:
                stop(headend)
            exit_code = headend.returncode
            log_text = log.read_text(errors="replace")
            if exit_code != 0 or args.show_log:
                print(log_text[-4000:], file=sys.stderr)
            problems = [
                line for line in log_text.splitlines() if " WARNING " in line or " ERROR " in line
            ]
            all_runs, readings = asyncio.run(stored_runs(work / "site.sqlite3"))
        finally:
            stop(sim)
    finally:
        mqtt.remove()
        influx.remove()
        shutil.rmtree(work, ignore_errors=True)
    start, end = seen.window
    runs = [
        r
        for r in all_runs
        if r.trigger in SCHEDULED and r.scheduled_for is not None and start < r.scheduled_for <= end
    ]
    return Result(args, clock, seen, runs, readings, exit_code, problems)


@dataclass(frozen=True)
class PlanFigures:
    plan: str
    runs: int
    attempted: int
    collected: int
    failed: int
    readings: int
    stored: int
    durations: list[float]
    done_after_fire: list[float]

    @property
    def rate(self) -> float:
        return self.collected / self.attempted if self.attempted else 1.0


def per_plan(result: Result) -> list[PlanFigures]:
    grouped: dict[str, list[RunStats]] = defaultdict(list)
    for run in result.runs:
        grouped[run.plan].append(run)
    figures = []
    for plan, runs in sorted(grouped.items()):
        after = []
        for run in runs:
            assert run.scheduled_for is not None
            fired = result.clock.wall(run.scheduled_for)
            after.append((run.started_at - fired).total_seconds() + run.duration_s)
        figures.append(
            PlanFigures(
                plan=plan,
                runs=len(runs),
                attempted=sum(r.attempted for r in runs),
                collected=sum(r.collected for r in runs),
                failed=sum(r.failed for r in runs),
                readings=sum(r.readings for r in runs),
                stored=sum(r.stored for r in runs),
                durations=[r.duration_s for r in runs],
                done_after_fire=after,
            )
        )
    return figures


def report(result: Result) -> None:
    args, seen = result.args, result.seen
    console = Console(width=130)
    start, end = seen.window
    plans = per_plan(result)
    table = Table(
        title=(
            f"{args.meters} meters, {args.hours:g} simulated h ({start:%Y-%m-%d %H:%M} .. "
            f"{end:%H:%M} UTC) at x{args.factor:g}, {args.latency_ms:g} ms meters"
        )
    )
    for column in (
        "plan",
        "runs",
        "meters/run",
        "collected",
        "failed",
        "readings (new)",
        "s p50",
        "s p95",
        "s max",
        "done after fire max s",
    ):
        table.add_column(column, justify="left" if column == "plan" else "right")
    for p in plans:
        table.add_row(
            p.plan,
            str(p.runs),
            f"{p.attempted / p.runs:.0f}",
            f"{p.rate:.3%}",
            str(p.failed),
            f"{p.readings} ({p.stored})",
            f"{percentile(p.durations, 50):.1f}",
            f"{percentile(p.durations, 95):.1f}",
            f"{max(p.durations):.1f}",
            f"{max(p.done_after_fire):.1f}",
        )
    console.print(table)

    sinks = sorted({name for s in seen.samples for name in s.depth})
    outbox = Table(title=f"outbox per simulated half hour ({len(seen.samples)} status samples)")
    outbox.add_column("simulated")
    for name in sinks:
        outbox.add_column(f"{name} depth max", justify="right")
        outbox.add_column(f"{name} oldest s max", justify="right")
    outbox.add_column("runs in progress max", justify="right")
    buckets: dict[datetime, list[Sample]] = defaultdict(list)
    for s in seen.samples:
        buckets[s.clock.replace(minute=s.clock.minute // 30 * 30, second=0, microsecond=0)].append(
            s
        )
    for when, group in sorted(buckets.items()):
        row = [f"{when:%H:%M}"]
        for name in sinks:
            row.append(str(max(s.depth.get(name, 0) for s in group)))
            row.append(f"{max(s.age_s.get(name, 0.0) for s in group):.1f}")
        row.append(str(max(s.in_progress for s in group)))
        outbox.add_row(*row)
    console.print(outbox)

    ages = [a for s in seen.samples for a in s.age_s.values()]
    depths = [d for s in seen.samples for d in s.depth.values()]
    delivered = seen.samples[-1].delivered if seen.samples else {}
    lags = seen.lags_s
    sim_hours = (seen.clock_end - start).total_seconds() / 3600
    # the CPU counts from the process's start, its start-up included: a slight overestimate
    head_cpu_per_h = seen.cpu_s / sim_hours if sim_hours > 0 else 0.0
    attempted = sum(p.attempted for p in plans)
    collected = sum(p.collected for p in plans)
    profile = next((p for p in plans if p.plan == PROFILE_PLAN), None)
    console.print(
        f"delivery lag (MQTT, {len(lags)} readings of {min(args.lag_meters, args.meters)} meters, "
        f"receive -> subscriber): p50 {percentile(lags, 50):.2f} s, p95 "
        f"{percentile(lags, 95):.2f} s, max {max(lags, default=0.0):.2f} s"
        + (f" (probe stopped: {escape(seen.probe_error)})" if seen.probe_error else "")
    )
    console.print(
        f"outbox (status samples, all sinks): depth p95 {percentile(depths, 95):.0f}, max "
        f"{max(depths, default=0)}; oldest entry p95 {percentile(ages, 95):.1f} s, max "
        f"{max(ages, default=0.0):.1f} s; delivered "
        + ", ".join(f"{k} {v}" for k, v in delivered.items())
        + f"; {'drained' if seen.drained else 'NOT drained'} within {args.drain_s:g} s after"
    )
    console.print(
        f"head-end: {seen.cpu_s:.1f} CPU s over {sim_hours:.2f} simulated h "
        f"({head_cpu_per_h:.1f} CPU s per simulated h), peak RSS {seen.peak_rss_mb:.0f} MiB; "
        f"simulator {seen.sim_cpu_s:.1f} CPU s; readings stored {result.readings}; "
        f"exit {result.exit_code}"
    )
    errors = [line for line in result.log_problems if " ERROR " in line]
    if result.log_problems:
        console.print(
            f"head-end log: {len(result.log_problems)} warning/error lines ({len(errors)} errors)"
        )
        for line in result.log_problems[:5]:
            console.print(f"  {line[:200]}", markup=False, highlight=False)
    figures: dict[str, Any] = {
        "meters": args.meters,
        "hours": args.hours,
        "factor": args.factor,
        "profile_runs": profile.runs if profile else 0,
        "profile_run_s_p50": round(percentile(profile.durations, 50), 2) if profile else None,
        "profile_run_s_p95": round(percentile(profile.durations, 95), 2) if profile else None,
        "profile_run_s_max": round(max(profile.durations), 2) if profile else None,
        "profile_done_after_fire_s_max": (
            round(max(profile.done_after_fire), 2) if profile else None
        ),
        "collection_rate": round(collected / attempted, 6) if attempted else None,
        "collection_rate_by_plan": {p.plan: round(p.rate, 6) for p in plans},
        "runs_by_plan": {p.plan: p.runs for p in plans},
        "outbox_lag_s_p50": round(percentile(lags, 50), 3),
        "outbox_lag_s_p95": round(percentile(lags, 95), 3),
        "outbox_lag_s_max": round(max(lags, default=0.0), 3),
        "lag_readings": len(lags),
        "lag_probe_error": seen.probe_error,
        "outbox_age_s_max": round(max(ages, default=0.0), 2),
        "outbox_depth_max": max(depths, default=0),
        "outbox_drained": seen.drained,
        "delivered": delivered,
        "readings": result.readings,
        "peak_rss_mb": round(seen.peak_rss_mb, 1),
        "cpu_s": round(seen.cpu_s, 1),
        "cpu_s_per_simulated_hour": round(head_cpu_per_h, 1),
        "sim_cpu_s": round(seen.sim_cpu_s, 1),
        "exit_code": result.exit_code,
        "log_warnings": len(result.log_problems) - len(errors),
        "log_errors": len(errors),
    }
    print(json.dumps(figures))


def default_start() -> datetime:
    """22:00 UTC today: six hours from there cross midnight (daily-billing at 00:05 and the
    clock check at 03:00 run)."""
    return datetime.now(UTC).replace(hour=22, minute=0, second=0, microsecond=0)


def start_time(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--hours", type=float, default=6.0, help="simulated hours (6)")
    parser.add_argument(
        "--factor",
        type=float,
        default=10.0,
        help="simulated seconds per real second (10: a 15-minute interval is 90 real s)",
    )
    parser.add_argument(
        "--start", type=start_time, default=None, help="simulated start, ISO (22:00 UTC today)"
    )
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--history", default="P1D", help="meters' history, ISO 8601 (P1D)")
    parser.add_argument("--concentrators", type=int, default=None)
    parser.add_argument("--meters-per-concentrator", type=int, default=20)
    parser.add_argument("--modbus-gateways", type=int, default=None)
    parser.add_argument("--dlt645-lines", type=int, default=None)
    parser.add_argument(
        "--lag-meters", type=int, default=200, help="meters whose readings the MQTT probe takes"
    )
    parser.add_argument("--sample-s", type=float, default=5.0, help="status poll, real s (5)")
    parser.add_argument(
        "--grace-s",
        type=float,
        default=300.0,
        help="real s to wait for the window's last runs (a hang guard; 300)",
    )
    parser.add_argument(
        "--drain-s", type=float, default=60.0, help="real s to wait for an empty outbox (60)"
    )
    parser.add_argument("--start-timeout-s", type=float, default=600.0)
    parser.add_argument("--show-log", action="store_true", help="print the head-end log's tail")
    args = parser.parse_args()
    if args.start is None:
        args.start = default_start()
    # the mix of bench/fleet_read.py: a concentrator of 20 HDLC meters, a Modbus gateway (16
    # units) and a DL/T 645 line (8 meters) per 5,000 meters; GPRS meters for the rest
    for name in ("concentrators", "modbus_gateways", "dlt645_lines"):
        if getattr(args, name) is None:
            setattr(args, name, max(1, args.meters // 5_000))
    report(run_bench(args))


if __name__ == "__main__":
    main()
