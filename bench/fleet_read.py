"""Fleet reading benchmark: a generated fleet read through the real plan, channels and store.

    python bench/fleet_read.py [--meters N] [--latency-ms MS] [--gprs-latency-ms MS]
                               [--concentrators C] [--meters-per-concentrator K]
                               [--modbus-gateways G] [--dlt645-lines L] [--blocking-meters M]
                               [--only plain,ciphered,gprs]

`headend simulate --meters N ... --write-config FILE` serves a generated fleet in one process
(GPRS meters at their own 127.x.y.z address on port 4059 behind one wildcard listener, DLMS
concentrators, Modbus RS-485 gateways, DL/T 645 lines); `headend collect --config FILE --plan
daily` then reads every meter in another process, exactly as an operator would run it: the daily
register set plus one day of 15-minute load profile, through the reading service, the channel
layer and the SQLite store (no shortcut around them). Three fleets are read, each served anew:

- plain: meters answer after `--latency-ms` (20 ms), no security;
- ciphered: the same with every DLMS meter on HLS-GMAC and global ciphering (suite 0);
- gprs: plain GPRS meters only, answering after `--gprs-latency-ms` (300 ms, a cellular round
  trip), where many sessions must be in flight at once.

For each: wall time, meters/s, the head-end's CPU per meter (from `wait4` on the `headend
collect` process, so the simulator's CPU is not in it) and peak RSS (its VmHWM), the simulator's
CPU per meter over the same run (it shares the 2 cores: it builds each meter when first dialled,
then serves it), readings stored. Store ingest
is measured apart: the plain run's readings (up to a million) are written again into a fresh store
in batches of 1,000 (the reading path's batch size is one meter's readings; this is the store's
own ceiling).
dlms-cosem's blocking `DlmsClient` then reads `--blocking-meters` of the plain fleet's GPRS
meters one after the other (same registers and profile day) and its time is projected to all N.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from headend.store.sqlite import SqliteStore

if not __package__:
    # run as `python bench/fleet_read.py` (the Makefile's and README's way): only bench/ is on
    # the path, and `bench.proc_stats` needs the repository's root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.proc_stats import cpu_s, peak_rss_mb

HEADEND = [sys.executable, "-m", "headend.cli.main"]
PLAN = "daily"


@dataclass
class Run:
    name: str
    meters: int
    ok: int
    failed: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    readings: int
    sim_cpu_s: float

    @property
    def meters_per_s(self) -> float:
        return self.meters / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_ms_per_meter(self) -> float:
        return 1000 * self.cpu_s / self.meters if self.meters else 0.0

    @property
    def sim_cpu_ms_per_meter(self) -> float:
        return 1000 * self.sim_cpu_s / self.meters if self.meters else 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_fleet(
    args: argparse.Namespace,
    workdir: Path,
    *,
    latency_ms: float,
    cipher: float,
    gprs_only: bool = False,
) -> tuple[subprocess.Popen[bytes], Path]:
    config = workdir / f"fleet-{latency_ms:g}ms-{cipher:g}.toml"
    config.unlink(missing_ok=True)
    command = [
        *HEADEND,
        "simulate",
        "--meters", str(args.meters),
        "--concentrators", str(0 if gprs_only else args.concentrators),
        "--meters-per-concentrator", str(args.meters_per_concentrator),
        "--modbus-gateways", str(0 if gprs_only else args.modbus_gateways),
        "--dlt645-lines", str(0 if gprs_only else args.dlt645_lines),
        "--latency-ms", f"{latency_ms:g}",
        "--cipher-share", f"{cipher:g}",
        "--factor", "1",  # real time: the meters' clocks agree with the head-end's
        "--gprs-port", str(args.gprs_port or free_port()),
        "--write-config", str(config),
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + args.start_timeout_s
    while not _serving(config):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise SystemExit(f"headend simulate did not start:\n{out[-2000:]}")
        time.sleep(0.2)
    return proc, config


def _serving(config: Path) -> bool:
    """`headend simulate` writes the fleet file (by a rename) once every endpoint listens."""
    return config.exists()


def stop_fleet(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class PeakRss:
    """Polls a child's VmHWM. `wait4`'s ru_maxrss is no use here: it also counts the memory the
    child shared with this process between fork and exec."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.mb = max(self.mb, peak_rss_mb(self.pid))
            except OSError:
                return

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.mb


def collect(name: str, config: Path, db: Path, meters: int, sim_pid: int) -> Run:
    """`headend collect` in a child process: its wall time, its CPU (from wait4), its peak RSS
    (VmHWM) and the simulator's CPU over the same run."""
    db.unlink(missing_ok=True)
    sim_before = cpu_s(sim_pid)
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen(
            [*HEADEND, "collect", "--config", str(config), "--plan", PLAN, "--db", str(db)],
            stdout=subprocess.DEVNULL,
            stderr=err_file,
        )
        peak = PeakRss(proc.pid)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        peak_mb = peak.stop()
        err_file.seek(0)
        err = err_file.read().decode(errors="replace")
    sim_cpu = cpu_s(sim_pid) - sim_before
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"headend collect failed ({code}):\n{err[-3000:]}")
    readings, ok, failed = asyncio.run(_stored(db))
    if failed:
        print(f"{name}: {failed} meter(s) not read; last lines:\n{err[-1500:]}", file=sys.stderr)
    return Run(
        name=name,
        meters=meters,
        ok=ok,
        failed=failed,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=peak_mb,
        readings=readings,
        sim_cpu_s=sim_cpu,
    )


async def _stored(db: Path) -> tuple[int, int, int]:
    async with await SqliteStore.open(db) as store:
        contacts = await store.last_contacts()
        return (
            await store.count_readings(),
            sum(1 for c in contacts if c.ok),
            sum(1 for c in contacts if not c.ok),
        )


INGEST_SAMPLE = 1_000_000
"""Readings re-written for the ingest figure, at most: all of a 100,000-meter run would not fit
in memory as Reading objects."""


async def ingest_rate(source: Path, target: Path, batch: int = 1000) -> tuple[int, float]:
    """Readings/s when (up to `INGEST_SAMPLE` of) the plain run's readings, meter by meter, are
    written again into a fresh store."""
    readings = []
    async with await SqliteStore.open(source) as store:
        for contact in await store.last_contacts():
            readings.extend(await store.readings(meter_id=contact.meter_id))
            if len(readings) >= INGEST_SAMPLE:
                break
    async with await SqliteStore.open(target) as fresh:
        started = time.perf_counter()
        for i in range(0, len(readings), batch):
            await fresh.save_readings(readings[i : i + batch])
        elapsed = time.perf_counter() - started
    return len(readings), len(readings) / elapsed if elapsed else 0.0


def blocking_projection(config: Path, count: int, total: int) -> tuple[int, float, float]:
    """dlms-cosem's blocking client on `count` plain GPRS meters: (read, seconds, projected)."""
    import drivers.dlms.client.session  # noqa: F401  (quiets dlms-cosem's per-APDU structlog output)
    from drivers.dlms.client.baseline import blocking_read

    data = tomllib.loads(config.read_text())
    channels = {c["id"]: c for c in data["channels"]}
    # the same points and profile as the head-end's run: the generated file's plan
    plan = next(p for p in data["plans"] if p["name"] == PLAN)
    points, profile = plan["points"], plan["profile"]
    gprs = [
        m
        for m in data["meters"]
        if m["protocol"] == "dlms"
        and m.get("framing", "wrapper") == "wrapper"
        and not m.get("cipher")
        and m.get("auth", "none") == "none"
    ][:count]
    end = datetime.now(UTC)
    window = (end - timedelta(days=1), end)
    started = time.perf_counter()
    done = 0
    for meter in gprs:
        channel = channels[meter["channel"]]
        try:
            blocking_read(channel["host"], channel["port"], points, profile=(profile, *window))
            done += 1
        except Exception as exc:
            print(f"blocking client, meter {meter['id']}: {exc!r}", file=sys.stderr)
    elapsed = time.perf_counter() - started
    per_meter = elapsed / max(done, 1)
    return done, elapsed, per_meter * total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--gprs-latency-ms", type=float, default=300.0)
    parser.add_argument("--concentrators", type=int, default=None)
    parser.add_argument("--meters-per-concentrator", type=int, default=20)
    parser.add_argument("--modbus-gateways", type=int, default=None)
    parser.add_argument("--dlt645-lines", type=int, default=None)
    parser.add_argument("--blocking-meters", type=int, default=5)
    parser.add_argument("--gprs-port", type=int, default=None, help="default: a free port")
    parser.add_argument("--start-timeout-s", type=float, default=600.0)
    parser.add_argument("--only", default="plain,ciphered,gprs")
    args = parser.parse_args()
    # The mix: 0.4 % of the meters behind concentrators (20 each), about 0.3 % on Modbus
    # gateways (16 units each) and 0.2 % on DL/T 645 lines (8 each): every half-duplex channel
    # reads one meter at a time; the rest are GPRS meters.
    if args.concentrators is None:
        args.concentrators = max(1, args.meters // 5_000)
    if args.modbus_gateways is None:
        args.modbus_gateways = max(1, args.meters // 5_000)
    if args.dlt645_lines is None:
        args.dlt645_lines = max(1, args.meters // 5_000)
    wanted = set(args.only.split(","))
    runs: dict[str, Run] = {}
    blocking: tuple[int, float, float] = (0, 0.0, 0.0)
    ingest: tuple[int, float] = (0, 0.0)
    with tempfile.TemporaryDirectory(prefix="fleet-read-") as tmp:
        work = Path(tmp)
        # the 300 ms run is GPRS meters only: the latency of a cellular round trip is what it
        # measures (many sessions in flight); a half-duplex concentrator at 300 ms per HDLC
        # frame would only measure how long one meter after the other takes behind it
        plan = [
            ("plain", args.latency_ms, 0.0, False),
            ("ciphered", args.latency_ms, 1.0, False),
            ("gprs", args.gprs_latency_ms, 0.0, True),
        ]
        for name, latency, cipher, gprs_only in plan:
            if name not in wanted:
                continue
            proc, config = start_fleet(
                args, work, latency_ms=latency, cipher=cipher, gprs_only=gprs_only
            )
            try:
                label = f"{name} ({latency:g} ms)"
                db = work / f"{name}.sqlite3"
                runs[name] = collect(label, config, db, args.meters, proc.pid)
                run = runs[name]
                print(
                    f"{label}: {run.wall_s:.1f} s, {run.cpu_ms_per_meter:.2f} CPU ms/meter, "
                    f"simulator {run.sim_cpu_ms_per_meter:.2f}, peak RSS {run.peak_rss_mb:.0f} MB",
                    file=sys.stderr,
                )
                if name == "plain" and args.blocking_meters:
                    blocking = blocking_projection(config, args.blocking_meters, args.meters)
            finally:
                stop_fleet(proc)
        # last, so that no child is forked from this process once it holds every reading
        if "plain" in runs:
            ingest = asyncio.run(ingest_rate(work / "plain.sqlite3", work / "ingest.sqlite3"))
    report(args, runs, ingest, blocking)


def report(
    args: argparse.Namespace,
    runs: dict[str, Run],
    ingest: tuple[int, float],
    blocking: tuple[int, float, float],
) -> None:
    table = Table(title=f"{args.meters} meters, plan '{PLAN}' (registers + 1 day of profile)")
    for column in (
        "run",
        "ok",
        "failed",
        "wall s",
        "meters/s",
        "CPU ms/meter",
        "sim CPU ms/meter",
        "peak RSS MB",
        "readings",
    ):
        table.add_column(column, justify="left" if column == "run" else "right")
    for run in runs.values():
        table.add_row(
            run.name,
            str(run.ok),
            str(run.failed),
            f"{run.wall_s:.1f}",
            f"{run.meters_per_s:.0f}",
            f"{run.cpu_ms_per_meter:.2f}",
            f"{run.sim_cpu_ms_per_meter:.2f}",
            f"{run.peak_rss_mb:.0f}",
            str(run.readings),
        )
    console = Console(width=120)
    console.print(table)
    plain = runs.get("plain")
    figures: dict[str, Any] = {"meters": args.meters}
    if plain is not None:
        figures.update(
            wall_s=round(plain.wall_s, 2),
            meters_per_s=round(plain.meters_per_s, 1),
            client_cpu_ms_per_meter=round(plain.cpu_ms_per_meter, 3),
            sim_cpu_ms_per_meter=round(plain.sim_cpu_ms_per_meter, 3),
            peak_rss_mb=round(max(r.peak_rss_mb for r in runs.values()), 1),
            readings=plain.readings,
            failed=plain.failed,
        )
    figures["store_readings_per_s"] = round(ingest[1])
    if "ciphered" in runs:
        figures["ciphered_wall_s"] = round(runs["ciphered"].wall_s, 2)
        if plain is not None:
            figures["ciphered_ratio"] = round(runs["ciphered"].wall_s / plain.wall_s, 2)
    if "gprs" in runs:
        figures["gprs_wall_s"] = round(runs["gprs"].wall_s, 2)
    done, elapsed, projected = blocking
    if done:
        console.print(
            f"blocking DlmsClient: {done} meters in {elapsed:.1f} s, "
            f"projected for {args.meters}: {projected:.0f} s"
        )
        figures["blocking_projected_s"] = round(projected, 1)
        if plain is not None:
            figures["speedup"] = round(projected / plain.wall_s, 1)
    console.print(f"store ingest: {ingest[0]} readings at {ingest[1]:.0f} readings/s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
