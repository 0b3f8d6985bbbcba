"""`headend events` and `headend runs`: stored events and run statistics, as tables or JSON lines.

`events` filters by meter (repeatable: any of them) and by the event time (`--from`/`--to`,
inclusive); `runs` by plan, and prints the collection success rate per plan and day after the
runs. `--json` prints one object per line (the shape of the MQTT messages' payloads).
"""

from __future__ import annotations

import argparse
import json
import sys

from rich.table import Table

from headend.cli.arguments import iso_time
from headend.cli.database import existing_store, open_url
from headend.cli.output import console
from headend.cli.usage import UsageError
from headend.config import HeadendConfig, load_config
from headend.events.model import Event
from headend.runs.model import DailyRate, RunStats


def _config(args: argparse.Namespace) -> HeadendConfig | None:
    return load_config(args.config) if args.config is not None else None


async def run_events(args: argparse.Namespace) -> int:
    if args.start is not None and args.end is not None and args.start > args.end:
        raise UsageError("--from must not be after --to")
    url = existing_store(_config(args), args.db)
    store = await open_url(url)
    try:
        meters = list(dict.fromkeys(args.meter)) if args.meter else None
        events = await store.events(
            meter_ids=meters, since=args.start, until=args.end, limit=args.limit
        )
    finally:
        await store.close()
    if not events:
        sys.stderr.write("headend events: no events match\n")
    elif args.json:
        for event in events:
            sys.stdout.write(json.dumps({"id": event.key, **event.model_dump(mode="json")}) + "\n")
    else:
        console().print(events_table(events))
    return 0


def events_table(events: list[Event]) -> Table:
    table = Table(title=f"{len(events)} events")
    for column in ("time", "meter", "code", "event", "text", "received"):
        table.add_column(column)
    for e in events:
        table.add_row(
            e.time.isoformat(timespec="seconds"),
            e.meter_id or (f"channel {e.channel_id}" if e.channel_id else "-"),
            str(e.code),
            e.name,
            e.text,
            e.received_at.isoformat(timespec="seconds"),
        )
    return table


async def run_runs(args: argparse.Namespace) -> int:
    url = existing_store(_config(args), args.db)
    store = await open_url(url)
    try:
        runs = await store.runs(plan=args.plan, limit=args.limit)
        rates = await store.daily_rates(plan=args.plan)
    finally:
        await store.close()
    if args.json:
        for run in runs:
            sys.stdout.write(run.model_dump_json() + "\n")
        for rate in rates:
            sys.stdout.write(
                json.dumps({"daily_rate": {**rate.model_dump(mode="json"), "rate": rate.rate}})
                + "\n"
            )
        return 0
    if not runs:
        sys.stderr.write("headend runs: no runs stored\n")
        return 0
    console().print(runs_table(runs))
    console().print(rates_table(rates))
    return 0


def runs_table(runs: list[RunStats]) -> Table:
    table = Table(title=f"{len(runs)} runs, newest first")
    for column in ("started", "plan", "trigger", "meters", "ok", "partial", "failed", "causes"):
        table.add_column(column)
    table.add_column("re-reads", justify="right")
    table.add_column("readings", justify="right")
    table.add_column("s", justify="right")
    for r in runs:
        causes = ", ".join(f"{n} {c}" for c, n in sorted(r.failed_by_cause.items()))
        table.add_row(
            r.started_at.isoformat(timespec="seconds"),
            r.plan,
            r.trigger,
            str(r.attempted),
            str(r.ok),
            str(r.partial),
            str(r.failed),
            causes or "-",
            str(r.rereads),
            str(r.readings),
            f"{r.duration_s:.1f}",
        )
    return table


def rates_table(rates: list[DailyRate]) -> Table:
    table = Table(title="collection success per plan and day (UTC)")
    for column in ("plan", "day", "runs", "attempted", "collected", "rate"):
        table.add_column(column)
    for rate in rates:
        table.add_row(
            rate.plan,
            rate.day.isoformat(),
            str(rate.runs),
            str(rate.attempted),
            str(rate.collected),
            f"{rate.rate:.2%}",
        )
    return table


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="fleet file (TOML): its site database")
    parser.add_argument("--db", metavar="URL", help="store URL or SQLite path (overrides it)")
    parser.add_argument("--limit", type=int, metavar="N", help="at most N (newest for runs)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")


def add_events_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    events = commands.add_parser(
        "events",
        help="print stored meter and head-end events",
        description=(
            "Print events: meters' own (event log, pushes) and the head-end's (collection\n"
            "failed, channel down, clock drift and synchronisation, authentication failed,\n"
            "replay detected, reading conflict), ordered by time.\n\n"
            "  headend events --config config/service.toml --meter gprs-0001 --from 2026-11-01\n"
            "  headend events --config config/service.toml --json | head\n\n"
            "Exit status: 0 (also when nothing matches), 2 usage error."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(events)
    events.add_argument("--meter", metavar="ID", action="append", help="meter id, repeatable")
    events.add_argument("--from", dest="start", metavar="ISO", type=iso_time, help="earliest")
    events.add_argument("--to", dest="end", metavar="ISO", type=iso_time, help="latest")
    events.set_defaults(handler=run_events)
    runs = commands.add_parser(
        "runs",
        help="print run statistics and the daily collection success rate",
        description=(
            "Print the statistics of the service's runs (newest first): meters attempted, ok,\n"
            "partial, failed by cause, re-read rounds, readings, duration; then the collection\n"
            "success rate per plan and UTC day.\n\n"
            "  headend runs --config config/service.toml --plan load-profile\n\n"
            "Exit status: 0, 2 usage error."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(runs)
    runs.add_argument("--plan", metavar="NAME", help="only this plan")
    runs.set_defaults(handler=run_runs)
