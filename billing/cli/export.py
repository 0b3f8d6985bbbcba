"""`headend export`: write a period's export file for the back-office (csv, nem12, cim or espi)
with its manifest, atomically: a back-office never sees a half-written file under its final
name, and a re-run for the same data writes byte-identical files. Exit 0: every customer meter
exported; 1: some could not be (each named on stderr, the file holds the others); 2: a usage or
configuration problem (nothing written)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from billing.cli.bill import parse_meters
from billing.cli.session import billing_session
from billing.export.model import ExportError
from billing.export.run import FORMATS
from billing.jobs.export import export_period
from billing.period import BillingPeriod
from headend.cli.usage import UsageError


async def run_export(args: argparse.Namespace) -> int:
    try:
        BillingPeriod.month(args.period)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    async with billing_session(args.config, args.db) as session:
        meters = parse_meters(args.meters, session.billing.customers())
        try:
            run = await export_period(
                session.billing,
                session.store,
                args.period,
                args.format,
                Path(args.out),
                meters=meters,
                workers=args.workers,
                database_url=session.url,
            )
        except ExportError as exc:
            raise UsageError(f"nothing exported: {exc}") from None
    manifest = run.manifest
    assert manifest is not None
    if args.json:
        sys.stdout.write(
            json.dumps(
                {
                    "period": run.period,
                    "format": run.fmt,
                    "meters": run.meters,
                    "failed": run.failed,
                    "files": [f.model_dump(mode="json") for f in manifest.files],
                    "seconds": round(run.seconds, 3),
                }
            )
            + "\n"
        )
    else:
        for f in manifest.files:
            sys.stdout.write(
                f"{Path(args.out) / f.name}: {run.meters} meters, {f.records:,} records, "
                f"{f.bytes:,} bytes, sha256 {f.sha256}\n"
            )
        sys.stdout.write(f"manifest beside it; {run.seconds:.2f} s\n")
    for meter, reason in sorted(run.failed.items()):
        sys.stderr.write(f"headend export: meter {meter}: left out: {reason}\n")
    return 1 if run.failed else 0


def add_export_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "export",
        help="write a period's billing export file (csv, nem12, cim, espi) with a manifest",
        description=(
            "Write the month's export file for the utility back-office, from the stored readings\n"
            "after validation and estimation, with the bills' amounts:\n"
            "  headend export --config site.toml --period 2026-10 --format csv --out exports/\n"
            "Formats: csv (one row per meter and register), nem12 (AEMO interval data),\n"
            "cim (IEC 61968-9 MeterReadings XML), espi (Green Button / NAESB ESPI Atom XML).\n"
            "Each file is written under a temporary name, synced and renamed, then its\n"
            "manifest (<site>-<period>-<format>.manifest.json: files, SHA-256, records)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="fleet file")
    parser.add_argument("--period", required=True, metavar="YYYY-MM", help="the month")
    parser.add_argument("--format", required=True, choices=FORMATS, help="file format")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for the files")
    parser.add_argument("--meters", nargs="+", metavar="ID", help="only these (ids or a,b,c)")
    parser.add_argument("--db", metavar="URL", help="database (default: the site database)")
    parser.add_argument(
        "--workers",
        type=_workers,
        default=min(os.cpu_count() or 1, 4),
        metavar="N",
        help="processes sharing the meters for nem12 and cim (default: the cores, up to 4; "
        "used from 200 meters)",
    )
    parser.add_argument("--json", action="store_true", help="the outcome as one JSON object")
    parser.set_defaults(handler=run_export)


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"from 1 to 64: {text!r}")
    return value
