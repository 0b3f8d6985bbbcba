"""`headend demo`: the two-way grid interaction demo (headend.demo), on embedded defaults.

Exit status: 0 after the evening ran and its summary was written, 1 when the demo could not run
(the simulator did not start), 2 for a usage error.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, time
from pathlib import Path

from pydantic import ValidationError

from headend.cli.output import console
from headend.cli.usage import UsageError
from headend.demo.runner import DemoFailed, run_grid_demo
from headend.demo.scenario import DEFAULT_DB, DEFAULT_OUT, DemoOptions
from headend.demo.summary import summary_tables


def _clock_time(text: str) -> time:
    if text == "24:00":
        return time(0, 0)
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time of day (HH:MM): {text!r}") from None


def options_from(args: argparse.Namespace) -> DemoOptions:
    try:
        return DemoOptions(
            households=args.households,
            feeders=args.feeders,
            start=args.start,
            end=args.end,
            minutes=args.minutes,
            day=datetime.now(UTC).date(),
            db=args.db,
            out=Path(args.out),
            live=not args.no_live,
            seed=args.seed,
            usage_every_min=args.usage_every,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
            for e in exc.errors()
        )
        raise UsageError(problems) from None


async def run_demo(args: argparse.Namespace) -> int:
    options = options_from(args)
    out = console()
    try:
        summary = await run_grid_demo(options, out)
    except DemoFailed as exc:
        out.print(f"[red]demo failed:[/] {exc}")
        return 1
    for table in summary_tables(summary):
        out.print(table)
    out.print(f"summary: {options.out / 'summary.json'}   plot: {summary.plot}")
    return 0


def add_grid_demo_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="the grid demo: an evening of 10,000 simulated households, load-managed",
        description=(
            "The two-way grid interaction demo. A simulated grid (a child process: concentrators\n"
            "with DLMS HDLC meters, Modbus gateways, a DL/T 645 line, GPRS DLMS meters; feeders\n"
            "with a meter at each transformer; rooftop PV, medical households) lives through an\n"
            "afternoon and evening, accelerated to last about --minutes. The head-end (`headend\n"
            "run`'s service) reads the households' usage, measures each feeder every 5 simulated\n"
            "minutes, and keeps feeder 1 (whose evening peak exceeds its capacity) under capacity\n"
            "with leased load limits; feeder 2 has a demand-response event from 18:00 to 20:00.\n"
            "Live view while it runs; at the end a summary table, summary.json and grid-demo.png\n"
            "in --out. Readings, commands and cycles stay in --db (a SQLite file recreated each\n"
            "run).\n\n"
            "  headend demo                                  # 10,000 households, ~5 minutes\n"
            "  headend demo --households 500 --minutes 1 --no-live"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--households", type=int, default=10_000, metavar="N", help="(10000)")
    demo.add_argument("--feeders", type=int, default=4, metavar="F", help="(4)")
    demo.add_argument(
        "--start", type=_clock_time, default=time(16, 0), metavar="HH:MM", help="UTC (16:00)"
    )
    demo.add_argument(
        "--end", type=_clock_time, default=time(0, 0), metavar="HH:MM", help="UTC (24:00)"
    )
    demo.add_argument(
        "--minutes",
        type=float,
        default=5.0,
        metavar="M",
        help="real duration of the simulated evening: sets the clock speed-up (5)",
    )
    demo.add_argument(
        "--db", default=DEFAULT_DB, metavar="URL", help=f"site database ({DEFAULT_DB})"
    )
    demo.add_argument(
        "--out", default=DEFAULT_OUT, metavar="DIR", help=f"plot and summary ({DEFAULT_OUT})"
    )
    demo.add_argument("--no-live", action="store_true", help="no live view, just the summary")
    demo.add_argument("--seed", type=int, default=1, help="the households' load models (1)")
    demo.add_argument(
        "--usage-every",
        type=int,
        default=DemoOptions.model_fields["usage_every_min"].default,
        metavar="MIN",
        help="households' usage read every MIN simulated minutes (60: at x96 a 10,000-household "
        "read takes 15-40 s, as long as 25-60 simulated minutes)",
    )
    demo.set_defaults(handler=run_demo)
