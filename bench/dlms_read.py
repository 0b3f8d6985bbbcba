"""DLMS reading benchmark: full sessions per second and client CPU per session.

    python bench/dlms_read.py N [--latency-ms MS] [--concurrency C] [--blocking-meters M]
                                [--rounds R]

Starts N simulated meters (wrapper, one TCP port each) in a separate process, then reads a
typical register set (clock, 1.8.0..1.8.4, 2.8.0, 1.7.0, voltages L1-L3) from every meter in a
full session (connect, associate, read, release), with bounded concurrency: plain (public
client), HLS-GMAC with global ciphering, and the blocking dlms-cosem DlmsClient one meter at a
time in a worker thread.

The simulated meters answer each request after `--latency-ms` (default 20 ms: a real meter's
processing plus a modem round trip; real meters take 10-100+ ms), which is what a head-end
faces. The same runs are then repeated against meters that answer at once (0 ms), where the
comparison is purely CPU-bound, so both figures are reported. `--latency-ms 0` runs only that.

Every async run starts with an empty scaler/unit cache, so each session reads the 10 scalers as
the blocking client does: 21 attributes, which the async client (the simulator grants
multiple-references) sends as GET-with-list requests of up to 10, so 5 requests per session
(AARQ, two lists, one GET, RLRQ; HLS adds one) against the blocking client's 23; the row
"scalers cached" shows the steady state of a head-end that reads the same meters again
(11 attributes: 4 requests). Each run is repeated
`--rounds` times and the round with the median CPU time is reported (CPU figures on a shared
machine vary between runs). CPU figures are this process's own (the simulator runs in its
child), so they are the client's cost; the simulator's CPU per session (all runs) is shown
apart. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretBytes
from rich.console import Console
from rich.table import Table

from drivers.contract import Point
from drivers.dlms.client.baseline import blocking_read
from drivers.dlms.client.counters import MemoryCounters
from drivers.dlms.client.reading import forget_scalers
from drivers.dlms.client.session import open_dlms_session
from drivers.dlms.server.security import DEMO_AUTH_KEY, DEMO_BLOCK_KEY
from drivers.dlms.settings import DlmsAuth, DlmsFraming, DlmsSettings
from drivers.transport.settings import TcpLink

DEFAULT_LATENCY_MS = 20.0
# the blocking client reads one meter after the other: at 20 ms a session takes ~0.5 s
BLOCKING_METERS_WITH_LATENCY = 20

REGISTERS = [
    "0.0.1.0.0.255",
    "1.0.1.8.0.255",
    "1.0.1.8.1.255",
    "1.0.1.8.2.255",
    "1.0.1.8.3.255",
    "1.0.1.8.4.255",
    "1.0.2.8.0.255",
    "1.0.1.7.0.255",
    "1.0.32.7.0.255",
    "1.0.52.7.0.255",
    "1.0.72.7.0.255",
]
POINTS = [Point(obis=obis) for obis in REGISTERS]


@dataclass
class Run:
    name: str
    sessions: int
    failures: int
    wall_s: float
    cpu_s: float

    @property
    def per_s(self) -> float:
        return self.sessions / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu_s / self.sessions if self.sessions else 0.0


def settings_for(port: int, ciphered: bool) -> DlmsSettings:
    link = TcpLink(host="127.0.0.1", port=port)
    if not ciphered:
        return DlmsSettings(framing=DlmsFraming.WRAPPER, link=link)
    return DlmsSettings(
        framing=DlmsFraming.WRAPPER,
        link=link,
        auth=DlmsAuth.HLS_GMAC,
        cipher=True,
        system_title=b"HES00001",
        auth_key=SecretBytes(DEMO_AUTH_KEY),
        block_key=SecretBytes(DEMO_BLOCK_KEY),
    )


async def measure(name: str, jobs: list[Callable[[], Awaitable[None]]], concurrency: int) -> Run:
    gate = asyncio.Semaphore(concurrency)
    failures = 0

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        nonlocal failures
        async with gate:
            try:
                await job()
            except Exception as exc:
                failures += 1
                if failures <= 3:
                    print(f"{name}: {exc}", file=sys.stderr)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(job) for job in jobs))
    return Run(name, len(jobs), failures, time.perf_counter() - wall, time.process_time() - cpu)


async def async_runs(
    ports: dict[str, int], concurrency: int, counters: MemoryCounters
) -> tuple[Run, Run, Run]:
    def job(meter_id: str, port: int, ciphered: bool) -> Callable[[], Awaitable[None]]:
        settings = settings_for(port, ciphered)

        async def run() -> None:
            async with await open_dlms_session(
                settings, meter_id=meter_id, counters=counters
            ) as session:
                readings = await session.read(POINTS)
            assert len(readings) == len(POINTS)

        return run

    def cold() -> None:
        for meter_id in ports:
            forget_scalers(meter_id)

    cold()
    plain = await measure("async plain", [job(m, p, False) for m, p in ports.items()], concurrency)
    cold()
    ciphered = await measure(
        "async HLS-GMAC ciphered", [job(m, p, True) for m, p in ports.items()], concurrency
    )
    warm = await measure(
        "async plain, scalers cached",
        [job(m, p, False) for m, p in ports.items()],
        concurrency,
    )
    return plain, ciphered, warm


def blocking_run(ports: dict[str, int], count: int) -> Run:
    chosen = list(ports.items())[:count]
    failures = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for _meter_id, port in chosen:
        try:
            values = blocking_read("127.0.0.1", port, REGISTERS)
            assert len(values) > len(REGISTERS)
        except Exception as exc:
            failures += 1
            if failures <= 3:
                print(f"blocking: {exc!r}", file=sys.stderr)
    return Run(
        "blocking DlmsClient (thread)",
        len(chosen),
        failures,
        time.perf_counter() - wall,
        time.process_time() - cpu,
    )


def start_simulator(
    count: int, latency_ms: float
) -> tuple[subprocess.Popen[str], dict[str, int], float]:
    server = Path(__file__).with_name("dlms_sim_server.py")
    proc = subprocess.Popen(
        [sys.executable, str(server), str(count), "--latency-ms", str(latency_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise SystemExit("the simulator did not start")
    ready = json.loads(line)
    ports: dict[str, int] = ready["ports"]
    return proc, ports, float(ready["cpu_s"])


def stop_simulator(proc: subprocess.Popen[str], cpu_at_start: float) -> float:
    """Stop the simulator; the CPU seconds it spent serving."""
    try:
        # communicate() closes stdin: EOF tells the simulator to stop
        _out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return float("nan")
    for line in reversed(err.splitlines()):
        if line.startswith("{"):
            return float(json.loads(line)["sim_cpu_s"]) - cpu_at_start
    return float("nan")


def median_run(runs: list[Run]) -> Run:
    """The round whose CPU time is the median (its wall time goes with it)."""
    ordered = sorted(runs, key=lambda run: run.cpu_s)
    return ordered[(len(ordered) - 1) // 2]


@dataclass
class Figures:
    latency_ms: float
    plain: Run
    ciphered: Run
    warm: Run
    blocking: Run
    sim_cpu_ms: float

    @property
    def speedup(self) -> float:
        return self.plain.per_s / self.blocking.per_s if self.blocking.per_s else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "sessions_per_s": round(self.plain.per_s, 1),
            "client_cpu_ms_per_session": round(self.plain.cpu_ms, 2),
            "ciphered_sessions_per_s": round(self.ciphered.per_s, 1),
            "ciphered_client_cpu_ms_per_session": round(self.ciphered.cpu_ms, 2),
            "cached_scalers_sessions_per_s": round(self.warm.per_s, 1),
            "cached_scalers_client_cpu_ms_per_session": round(self.warm.cpu_ms, 2),
            "blocking_meters": self.blocking.sessions,
            "blocking_sessions_per_s": round(self.blocking.per_s, 1),
            "blocking_client_cpu_ms_per_session": round(self.blocking.cpu_ms, 2),
            "speedup": round(self.speedup, 2),
            "sim_cpu_ms_per_session": round(self.sim_cpu_ms, 2),
            "failures": sum(
                r.failures for r in (self.plain, self.ciphered, self.warm, self.blocking)
            ),
        }


async def figures_at(latency_ms: float, args: argparse.Namespace) -> Figures:
    proc, ports, sim_cpu_start = start_simulator(args.meters, latency_ms)
    # a new simulator's meters count their invocation counters from 1 again
    counters = MemoryCounters()
    rounds: list[tuple[Run, Run, Run]] = []
    blockings: list[Run] = []
    sim_cpu = float("nan")
    try:
        count = args.blocking_meters or (
            min(args.meters, BLOCKING_METERS_WITH_LATENCY) if latency_ms > 0 else args.meters
        )
        for _ in range(args.rounds):
            rounds.append(await async_runs(ports, args.concurrency, counters))
            blockings.append(await asyncio.to_thread(blocking_run, ports, count))
    finally:
        sim_cpu = stop_simulator(proc, sim_cpu_start)
    sessions = sum(r.sessions for runs in rounds for r in runs) + sum(b.sessions for b in blockings)
    return Figures(
        latency_ms,
        median_run([r[0] for r in rounds]),
        median_run([r[1] for r in rounds]),
        median_run([r[2] for r in rounds]),
        median_run(blockings),
        1000 * sim_cpu / sessions if sessions else float("nan"),
    )


def print_table(figures: Figures, meters: int) -> None:
    title = (
        f"DLMS full sessions, {meters} meters, {len(POINTS)} registers each, "
        f"meters answer after {figures.latency_ms:g} ms"
    )
    table = Table(title=title)
    for column in ("client", "sessions", "failed", "wall s", "sessions/s", "client CPU ms/session"):
        table.add_column(column, justify="left" if column == "client" else "right")
    for run in (figures.plain, figures.ciphered, figures.warm, figures.blocking):
        table.add_row(
            run.name,
            str(run.sessions),
            str(run.failures),
            f"{run.wall_s:.2f}",
            f"{run.per_s:.1f}",
            f"{run.cpu_ms:.2f}",
        )
    Console().print(table)
    print(
        f"speedup (async plain / blocking sessions per s): {figures.speedup:.2f}; "
        f"simulator CPU {figures.sim_cpu_ms:.2f} ms/session"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("meters", type=int, nargs="?", default=100)
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=DEFAULT_LATENCY_MS,
        help=f"meter response delay per request (default {DEFAULT_LATENCY_MS:g})",
    )
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--blocking-meters",
        type=int,
        default=None,
        help=f"meters for the blocking run (all at 0 ms, {BLOCKING_METERS_WITH_LATENCY} otherwise)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="repeats of each run (median)")
    args = parser.parse_args()
    results = [await figures_at(args.latency_ms, args)]
    if args.latency_ms > 0:
        results.append(await figures_at(0.0, args))
    for figures in results:
        print_table(figures, args.meters)
    main_figures = results[0]
    summary: dict[str, Any] = {
        "meters": args.meters,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "rounds": args.rounds,
        **main_figures.as_json(),
    }
    if len(results) > 1:
        summary["cpu_bound"] = results[1].as_json()
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main())
