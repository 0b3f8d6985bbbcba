"""Billing benchmark: a month of 15-minute data and daily registers for N meters, billed and
exported in every format.

    .venv/bin/python -m bench.billing [--meters 1000] [--month 2026-10] [--keep DIR]
                                      [--formats csv,nem12,cim,espi]

1. Store: a generated fleet of N GPRS meters and a simulated month of their readings
   (headend/simulation/month.py: the 15-minute load profile, import and export, and the daily
   billing registers, import total, per tariff register and export) stored in a SQLite site
   database, as collection would have stored them (not timed as billing: reported as the store's
   rate).
2. Bill: `bill_period` (what `headend bill` runs) on the demo's time-of-use tariff, which bills
   from the meters' tariff registers at the month's boundaries (read by primary key; a meter
   whose boundary reads are not all there is worked out from its whole profile with VEE); then
   again on a commercial tariff with a demand charge, which reads, validates and splits every
   meter's 15-minute intervals by the tariff calendar (`bill_intervals_per_s`). A second run of
   the first re-bills the same data (the same bills: nothing new stored).
3. Export: `export_period` (what `headend export` runs) in csv, nem12, cim and espi, each file
   written atomically with its manifest; meter-months per second and MB/s of file written.

Targets (issue 10, 2 cores): >= 500 meter-months billed per second (10,000 meters in <= 20 s);
>= 200 meter-months per second exported as CSV and as NEM12. The last line printed is one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from billing.config import billing_of
from billing.export.run import FORMATS
from billing.jobs.bill import bill_period
from billing.jobs.export import export_period
from billing.store.database import open_billing_db
from billing.store.schema import MIGRATIONS
from drivers.contract import Reading
from headend.cli.simulate_month import month_bounds
from headend.config import load_config
from headend.simulation.generator import FleetShape, generate, to_toml
from headend.simulation.month import simulated_month
from headend.store import open_store

REPO = Path(__file__).resolve().parents[1]
TARIFFS = REPO / "config" / "tariffs"
STORE_BATCH = 200_000
STORED_MARK = "stored.txt"  # in a kept directory: "<meters> <month>" once the month is stored


def fleet_file(work: Path, meters: int) -> Path:
    data = generate(FleetShape(meters=meters))
    data["site"]["database"] = str(work / "site.sqlite3")
    data["billing"] = {
        "tariffs": [str(TARIFFS / "sim-tou.toml"), str(TARIFFS / "commercial-demand.toml")],
        "default_tariff": "sim-tou",
        "export": {"derive_nmi": True},
    }
    path = work / "fleet.toml"
    path.write_text(to_toml(data, "billing benchmark fleet"))
    return path


async def store_month(url: str, meter_ids: list[str], month: str) -> tuple[int, float]:
    start, end = month_bounds(month)
    store = await open_store(url)
    began = time.perf_counter()
    stored = 0
    try:
        batch: list[Reading] = []
        for readings in simulated_month(meter_ids, start, end, pv_share=0.2):
            batch += readings
            if len(batch) >= STORE_BATCH:
                await store.save_batch(batch)
                stored += len(batch)
                batch = []
        if batch:
            await store.save_batch(batch)
            stored += len(batch)
    finally:
        await store.close()
    return stored, time.perf_counter() - began


async def measure(
    meters: int, month: str, work: Path, formats: tuple[str, ...] = FORMATS
) -> dict[str, Any]:
    path = work / "fleet.toml"
    # a kept directory holding this fleet's month already: billed again, not stored again
    mark = work / STORED_MARK
    reuse = mark.exists() and mark.read_text() == f"{meters} {month}"
    if not reuse:
        path = fleet_file(work, meters)
    config = load_config(path)
    billing = billing_of(config)
    ids = billing.customers()
    url = config.fleet.site.database
    figures: dict[str, Any] = {"meters": len(ids)}
    if reuse:
        figures["readings_stored"] = None
        figures["store_readings_per_s"] = None
    else:
        stored, store_s = await store_month(url, ids, month)
        (work / STORED_MARK).write_text(f"{meters} {month}")
        figures["readings_stored"] = stored
        figures["store_readings_per_s"] = round(stored / store_s)
    store = await open_store(url)
    db = await open_billing_db(url, MIGRATIONS)
    try:
        now = datetime.now(UTC)
        run = await bill_period(billing, store, db, month, meters=ids, now=now)
        figures["bill_s"] = round(run.seconds, 2)
        figures["bill_per_s"] = round(len(run.bills) / run.seconds, 1)
        figures["bills"] = len(run.bills)
        figures["bill_failed"] = len(run.failed)
        figures["bills_total"] = {c: str(a) for c, a in run.total.items()}
        again = await bill_period(billing, store, db, month, meters=ids, now=now)
        figures["rebill_new"] = again.new
        figures["rebill_same_total"] = again.total == run.total
        # the same fleet with every meter on the demand tariff
        demand_billing = dataclasses.replace(billing, default=billing.tariffs["commercial-demand"])
        interval_run = await bill_period(demand_billing, store, db, month, meters=ids, now=now)
        figures["bill_intervals_s"] = round(interval_run.seconds, 2)
        figures["bill_intervals_per_s"] = round(len(interval_run.bills) / interval_run.seconds, 1)
        out = work / "exports"
        for fmt in formats:
            began = time.perf_counter()
            exported = await export_period(
                billing, store, month, fmt, out, meters=ids, workers=2, database_url=url
            )
            seconds = time.perf_counter() - began
            manifest = exported.manifest
            assert manifest is not None
            size = sum(f.bytes for f in manifest.files)
            figures[f"{fmt}_s"] = round(seconds, 2)
            figures[f"{fmt}_per_s"] = round(exported.meters / seconds, 1)
            figures[f"{fmt}_mb_per_s"] = round(size / seconds / 1e6, 1)
            figures[f"{fmt}_mb"] = round(size / 1e6, 1)
    finally:
        await db.close()
        await store.close()
    figures["load_average"] = round(os.getloadavg()[0], 2)
    return figures


def show(f: dict[str, Any], console: Console) -> None:
    table = Table(title=f"Billing a month of {f['meters']:,} meters (15-minute data)")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("meter-months/s", justify="right")
    table.add_column("MB/s", justify="right")
    table.add_column("target", justify="right")
    table.add_row("bill (registers)", str(f["bill_s"]), str(f["bill_per_s"]), "", ">= 500")
    table.add_row(
        "bill (demand tariff, intervals)",
        str(f["bill_intervals_s"]),
        str(f["bill_intervals_per_s"]),
        "",
        "",
    )
    for fmt in FORMATS:
        if f"{fmt}_s" not in f:
            continue
        target = ">= 200" if fmt in ("csv", "nem12") else ""
        table.add_row(
            f"export {fmt} ({f[f'{fmt}_mb']} MB)",
            str(f[f"{fmt}_s"]),
            str(f[f"{fmt}_per_s"]),
            str(f[f"{fmt}_mb_per_s"]),
            target,
        )
    console.print(table)
    stored = (
        f"{f['readings_stored']:,} readings stored at {f['store_readings_per_s']:,}/s"
        if f["readings_stored"] is not None
        else "readings stored by an earlier run (--keep)"
    )
    console.print(
        f"{stored}; "
        f"{f['bills']:,} bills ({f['bill_failed']} failed), totals {f['bills_total']}; "
        f"re-bill stored {f['rebill_new']} new bills; load average {f['load_average']}"
    )


def main(
    meters: int, month: str, keep: Path | None = None, formats: tuple[str, ...] = FORMATS
) -> dict[str, Any]:
    # as the `headend` command does (headend/cli/main.py): a month of intervals is millions of
    # objects, and the default threshold rescans them over and over
    gc.set_threshold(50_000, 20, 20)
    work = Path(tempfile.mkdtemp(prefix="bench-billing-")) if keep is None else keep
    work.mkdir(parents=True, exist_ok=True)
    try:
        figures = asyncio.run(measure(meters, month, work, formats))
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    show(figures, Console(width=140))
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--month", default="2026-10")
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep the database and files in DIR; a DIR holding this fleet's month from an "
        "earlier run is billed and exported again without storing it again",
    )
    parser.add_argument(
        "--formats",
        default=",".join(FORMATS),
        help=f"export formats to measure, comma-separated (default: {','.join(FORMATS)})",
    )
    args = parser.parse_args()
    chosen = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    unknown = sorted(set(chosen) - set(FORMATS))
    if unknown:
        parser.error(f"--formats: unknown {', '.join(unknown)} (choose from {', '.join(FORMATS)})")
    print(json.dumps(main(args.meters, args.month, args.keep, chosen)))
