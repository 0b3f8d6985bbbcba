"""`headend status`: is the service running, what is it doing, how far behind are the sinks.

From the store (works whether or not the service runs): each configured sink's outbox depth and
oldest undelivered entry, the latest run of each plan and today's collection success rate. From
the running service, over its control socket: runs in progress, the next run of each plan,
channels marked down (with why and until when), and the sinks' delivery state; against a
cluster's scheduler (`headend run --role scheduler`) also the cluster: its workers with the jobs
each holds, the queue depth per lane, the channel leases held and the dead letters.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from headend.cli.database import existing_store, open_url
from headend.cli.output import console
from headend.config import HeadendConfig, load_config
from headend.service.control import ask
from headend.service.schedule import next_fire_time, parse_schedule
from headend.sinks.forwarder import sinks_from_config


async def gather_status(config: HeadendConfig, db: str | None) -> dict[str, Any]:
    fleet = config.fleet
    status: dict[str, Any] = {"site": fleet.site.name, "running": False}
    try:
        live = await ask(Path(fleet.service.control_socket), {"op": "status"}, timeout_s=10.0)
    except (ConnectionError, OSError, TimeoutError, ValueError):
        live = None
    if live is not None and live.get("ok"):
        status.update(live)
        status["running"] = True
        status.pop("ok", None)
    store = await open_url(existing_store(config, db))
    try:
        names = [sink.name for sink in sinks_from_config(fleet.sinks, fleet, env={})]
        outbox = await store.outbox_status(names) if names else []
        latest: dict[str, Any] = {}
        for plan in fleet.plans:
            runs = await store.runs(plan=plan.name, limit=1)
            if runs:
                latest[plan.name] = runs[0].model_dump(mode="json")
        today = datetime.now(UTC).date()
        rates = [r for r in await store.daily_rates() if r.day == today]
    finally:
        await store.close()
    status["outbox"] = [o.model_dump(mode="json") for o in outbox]
    status["latest_runs"] = latest
    status["rates_today"] = {r.plan: r.rate for r in rates}
    if not status["running"]:
        now = datetime.now(UTC)
        status["next_runs"] = {
            p.name: next_fire_time(parse_schedule(p.schedule), now).isoformat()
            for p in fleet.plans
            if p.schedule is not None
        }
    return status


async def run_status(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    status = await gather_status(config, args.db)
    if args.json:
        sys.stdout.write(json.dumps(status) + "\n")
        return 0
    out = console()
    running = "running" if status["running"] else "NOT running"
    clock = ""
    if status.get("clock_factor", 1) != 1:
        clock = f", simulated clock x{status['clock_factor']:g} at {status['clock']}"
    since = f" since {status['started_at']}" if status.get("started_at") else ""
    out.print(f"head-end {status['site']}: {running}{since}{clock}")
    table = Table(title="plans")
    for column in ("plan", "next run", "latest run", "meters", "collected", "today"):
        table.add_column(column)
    in_progress = {r["plan"] for r in status.get("in_progress", [])}
    for plan in config.fleet.plans:
        latest = status["latest_runs"].get(plan.name)
        rate = status["rates_today"].get(plan.name)
        table.add_row(
            plan.name + (" (running)" if plan.name in in_progress else ""),
            status.get("next_runs", {}).get(plan.name, "-"),
            latest["started_at"] if latest else "-",
            str(latest["attempted"]) if latest else "-",
            f"{latest['ok'] + latest['partial']}" if latest else "-",
            f"{rate:.2%}" if rate is not None else "-",
        )
    out.print(table)
    if status.get("load"):
        feeders = Table(title="feeders (last control cycle)")
        for column in ("feeder", "at", "load kW", "usable kW", "forecast kW", "limited", "report"):
            feeders.add_column(column)
        for feeder, cycle in sorted(status["load"].items()):
            load = cycle["load_kw"]
            feeders.add_row(
                feeder,
                cycle["at"],
                "-" if load is None else f"{load:.1f}",
                f"{cycle['capacity_kw']:.1f}",
                f"{cycle['forecast_kw']:.1f}",
                str(cycle["limited"] + cycle["disconnected"]),
                cycle["report"],
            )
        out.print(feeders)
    if status.get("commands_in_flight"):
        out.print(f"commands in flight: {status['commands_in_flight']}")
    if status["outbox"]:
        sinks = Table(title="outbox")
        for column in ("sink", "depth", "oldest undelivered", "state"):
            sinks.add_column(column)
        live = {s["sink"]: s for s in status.get("sinks", [])}
        for entry in status["outbox"]:
            state = live.get(entry["sink"])
            text = "-"
            if state is not None:
                text = f"failing: {state['last_error']}" if state["failing"] else "delivering"
            sinks.add_row(entry["sink"], str(entry["depth"]), entry["oldest_at"] or "-", text)
        out.print(sinks)
    if isinstance(status.get("cluster"), dict):
        _print_cluster(status["cluster"])
    for down in status.get("channels_down", []):
        out.print(f"channel {down['channel']} down: {down['why']}")
    # sections of daemon extensions (billing's prepay) say what to print in "lines"
    for name, section in status.items():
        if isinstance(section, dict) and isinstance(section.get("lines"), list):
            for line in section["lines"]:
                out.print(f"{name}: {line}")
    return 0


def _print_cluster(cluster: dict[str, Any]) -> None:
    out = console()
    if "error" in cluster:
        out.print(f"cluster: {cluster['error']}")
        return
    lanes = ", ".join(
        f"{lane['lane']} {lane['waiting']} waiting, {lane['running']} running"
        for lane in cluster["lanes"]
    )
    out.print(f"cluster: jobs {lanes}; {cluster['dead_letters']} dead letters")
    workers = Table(title="workers")
    for column in ("worker", "host", "pid", "last beat", "done", "failed", "jobs held"):
        workers.add_column(column)
    for beat in cluster["workers"]:
        held = ", ".join(f"{job['job_id']} ({job['channel_id']})" for job in beat["jobs_held"])
        workers.add_row(
            beat["worker_id"],
            beat["host"],
            str(beat["pid"]),
            beat["beat_at"],
            str(beat["jobs_done"]),
            str(beat["jobs_failed"]),
            held or "-",
        )
    out.print(workers)
    for lease in cluster["leases"]:
        out.print(
            f"lease: channel {lease['channel_id']} held by {lease['holder']} "
            f"(job {lease['job_id']}) until {lease['expires_at']}"
        )


def add_status_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "status",
        help="show the service's state, plans, channels down and the outbox per sink",
        description=(
            "Show whether `headend run` is running for this fleet file (its control socket,\n"
            "[service] control_socket), its runs in progress and next runs, channels marked\n"
            "down, for each sink the outbox depth and oldest undelivered entry, the commands\n"
            "in flight and each feeder's last control cycle (with a [load] section). Against a\n"
            "cluster's scheduler (headend run --role scheduler): the workers (id, host, pid,\n"
            "last heartbeat, jobs held with their channels), jobs waiting and running per lane,\n"
            'channel leases held and dead letters; in --json under "cluster".\n\n'
            "  headend status --config config/service.toml [--json]\n\n"
            "Exit status: 0, 2 usage/configuration error."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", required=True, help="fleet file (TOML)")
    parser.add_argument("--db", metavar="URL", help="store URL or SQLite path (overrides it)")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    parser.set_defaults(handler=run_status)
