"""DLMS reading benchmark: full sessions per second and client CPU per session.

    python bench/dlms_read.py N [--concurrency C] [--blocking-meters M]

Starts N simulated meters (wrapper, one TCP port each) in a separate process, then reads a
typical register set (clock, 1.8.0..1.8.4, 2.8.0, 1.7.0, voltages L1-L3) from every meter in a
full session (connect, associate, read, release), with bounded concurrency:
plain (public client), HLS-GMAC with global ciphering, and the blocking dlms-cosem DlmsClient one
meter at a time in a worker thread. CPU figures are this process's own (the simulator runs in its
child), so they are the client's cost. The last line printed is one JSON object.
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

from pydantic import SecretBytes
from rich.console import Console
from rich.table import Table

from drivers.contract import Point
from drivers.dlms.baseline import blocking_read
from drivers.dlms.counters import MemoryCounters
from drivers.dlms.server.security import DEMO_AUTH_KEY, DEMO_BLOCK_KEY
from drivers.dlms.session import open_dlms_session
from drivers.dlms.settings import DlmsAuth, DlmsFraming, DlmsSettings
from drivers.transport.settings import TcpLink

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


async def async_runs(ports: dict[str, int], concurrency: int) -> tuple[Run, Run]:
    counters = MemoryCounters()

    def job(meter_id: str, port: int, ciphered: bool) -> Callable[[], Awaitable[None]]:
        settings = settings_for(port, ciphered)

        async def run() -> None:
            async with await open_dlms_session(
                settings, meter_id=meter_id, counters=counters
            ) as session:
                readings = await session.read(POINTS)
            assert len(readings) == len(POINTS)

        return run

    plain = await measure("async plain", [job(m, p, False) for m, p in ports.items()], concurrency)
    ciphered = await measure(
        "async HLS-GMAC ciphered", [job(m, p, True) for m, p in ports.items()], concurrency
    )
    return plain, ciphered


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


def start_simulator(count: int) -> tuple[subprocess.Popen[str], dict[str, int]]:
    server = Path(__file__).with_name("dlms_sim_server.py")
    proc = subprocess.Popen(
        [sys.executable, str(server), str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise SystemExit("the simulator did not start")
    ports: dict[str, int] = json.loads(line)["ports"]
    return proc, ports


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("meters", type=int, nargs="?", default=100)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--blocking-meters", type=int, default=None, help="meters for the blocking run (all)"
    )
    args = parser.parse_args()
    proc, ports = start_simulator(args.meters)
    try:
        plain, ciphered = await async_runs(ports, args.concurrency)
        count = args.blocking_meters or args.meters
        blocking = await asyncio.to_thread(blocking_run, ports, count)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()

    table = Table(title=f"DLMS full sessions, {args.meters} meters, {len(POINTS)} registers each")
    for column in ("client", "sessions", "failed", "wall s", "sessions/s", "client CPU ms/session"):
        table.add_column(column, justify="left" if column == "client" else "right")
    for run in (plain, ciphered, blocking):
        table.add_row(
            run.name,
            str(run.sessions),
            str(run.failures),
            f"{run.wall_s:.2f}",
            f"{run.per_s:.1f}",
            f"{run.cpu_ms:.2f}",
        )
    Console().print(table)
    speedup = plain.per_s / blocking.per_s if blocking.per_s else 0.0
    print(
        json.dumps(
            {
                "meters": args.meters,
                "concurrency": args.concurrency,
                "cpus": os.cpu_count(),
                "sessions_per_s": round(plain.per_s, 1),
                "client_cpu_ms_per_session": round(plain.cpu_ms, 2),
                "ciphered_sessions_per_s": round(ciphered.per_s, 1),
                "ciphered_client_cpu_ms_per_session": round(ciphered.cpu_ms, 2),
                "blocking_sessions_per_s": round(blocking.per_s, 1),
                "blocking_client_cpu_ms_per_session": round(blocking.cpu_ms, 2),
                "speedup": round(speedup, 2),
                "failures": plain.failures + ciphered.failures + blocking.failures,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
