"""`headend simulate-month`: store a simulated month of readings for the fleet's meters straight
into the site database (the 15-minute load profile and the daily billing registers that a month of
collection would have stored), so billing and exports can be tried at once on a fresh machine:

    headend simulate-month --config config/demo.toml --month 2026-10
    headend bill --config config/demo.toml --period 2026-10

Nothing is served and nothing is read over the network: the readings come from the simulator's
physics (headend/simulation/month.py), seeded by the fleet file's [simulation] seed. Storing them
again changes nothing (readings are idempotent).
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime

from drivers.contract import Reading
from headend.cli.database import check_url, open_url, shown_url, site_url
from headend.cli.usage import UsageError
from headend.config import load_config
from headend.simulation.month import simulated_month


def month_bounds(text: str) -> tuple[datetime, datetime]:
    found = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise UsageError(f"--month {text!r}: expected YYYY-MM, e.g. 2026-10")
    year, month = int(found.group(1)), int(found.group(2))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


async def run_simulate_month(args: argparse.Namespace) -> int:
    start, end = month_bounds(args.month)
    config = load_config(args.config)
    fleet = config.fleet
    meters = [m.id for m in fleet.meters]
    if args.meters is not None:
        meters = meters[: args.meters]
    sim = fleet.simulation
    seed = sim.seed if sim is not None else 1
    pv_share = sim.pv_share if sim is not None else 0.03
    url = check_url(site_url(config, args.db))
    store = await open_url(url)
    stored = new = 0
    try:
        batch: list[Reading] = []
        for readings in simulated_month(meters, start, end, seed=seed, pv_share=pv_share):
            batch += readings
            if len(batch) >= 200_000:
                new += (await store.save_batch(batch)).new
                stored += len(batch)
                batch = []
        if batch:
            new += (await store.save_batch(batch)).new
            stored += len(batch)
    finally:
        await store.close()
    sys.stdout.write(
        f"stored a simulated {args.month} for {len(meters)} meters in {shown_url(url)}: "
        f"{stored:,} readings ({new:,} new)\n"
    )
    return 0


def add_simulate_month_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    parser = commands.add_parser(
        "simulate-month",
        help="store a simulated month of readings (profile and daily registers) for billing",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="fleet file")
    parser.add_argument("--month", required=True, metavar="YYYY-MM", help="the month (UTC)")
    parser.add_argument("--meters", type=int, metavar="N", help="only the first N meters")
    parser.add_argument("--db", metavar="URL", help="database (default: the site database)")
    parser.set_defaults(handler=run_simulate_month)
