"""`headend readings`: print readings from the store, filtered by meter, OBIS code and time.

Filters: several `--meter` (or several `--obis`) are alternatives; the options combine with AND.
`--from`/`--to` bound the capture time (inclusive). `--json` prints one object per line in the
shape of `headend read --json`, so the two commands' outputs can be processed alike.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from datetime import datetime

from drivers.contract import Reading
from headend.cli.arguments import iso_time, obis_code
from headend.cli.database import existing_store, open_url, shown_url
from headend.cli.output import console, print_json, readings_table
from headend.cli.usage import UsageError
from headend.config import load_config


def _key(reading: Reading) -> tuple[str, str, datetime]:
    return (reading.meter_id, reading.obis, reading.capture_time or reading.receive_time)


async def query_readings(
    url: str,
    meters: list[str] | None,
    codes: list[str] | None,
    since: datetime | None,
    until: datetime | None,
) -> list[Reading]:
    """Readings matching any of `meters` and any of `codes` (None: no filter), time-ordered per
    meter and OBIS code."""
    found: list[Reading] = []
    store = await open_url(url)
    try:
        any_meter: list[str | None] = [None]
        for meter_id, obis in itertools.product(meters or any_meter, codes or any_meter):
            found += await store.readings(meter_id=meter_id, obis=obis, since=since, until=until)
    finally:
        await store.close()
    return sorted(found, key=_key)


async def run_readings(args: argparse.Namespace) -> int:
    if args.start is not None and args.end is not None and args.start > args.end:
        raise UsageError("--from must not be after --to")
    config = load_config(args.config) if args.config is not None else None
    url = existing_store(config, args.db)
    meters = list(dict.fromkeys(args.meter)) if args.meter else None
    codes = list(dict.fromkeys(args.obis)) if args.obis else None
    readings = await query_readings(url, meters, codes, args.start, args.end)
    if not readings:
        sys.stderr.write(f"headend readings: no readings in {shown_url(url)} match\n")
    elif args.json:
        print_json(readings)
    else:
        console().print(readings_table(readings))
    return 0


def add_readings_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "readings",
        help="print stored readings (by meter, OBIS code, time)",
        description=(
            "Print readings from the site database of a fleet file (or --db), as a table or,\n"
            "with --json, one object per line as `headend read --json` prints them. Several\n"
            "--meter (or --obis) match any of them; different options must all match. --from\n"
            "and --to bound the capture time (inclusive; without an offset: UTC).\n\n"
            "  headend readings --config config/demo.toml --meter gprs-0001\n"
            "  headend readings --config config/demo.toml --obis 1.0.1.8.0.255 \\\n"
            "      --obis 1.0.2.8.0.255 --from 2025-03-01T00:00 --to 2025-03-02T00:00 --json\n"
            "  headend readings --db var/demo.sqlite3 --meter dc1-0002 --json | head -3\n"
            "  headend readings --db postgresql://headend@db1/site --meter gprs-0001\n\n"
            "Exit status: 0 (also when nothing matches: a note on stderr), 2 usage error (also a\n"
            "SQLite file that does not exist), 3 the store failed (e.g. a server not reachable),\n"
            "141 output cut short (e.g. piped into head)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help="fleet file (TOML): its site database")
    parser.add_argument(
        "--db",
        metavar="URL",
        help="store: a SQLite path, sqlite:///path or postgresql://... (overrides site.database)",
    )
    parser.add_argument(
        "--meter", metavar="ID", action="append", help="meter id, repeatable (default: all)"
    )
    parser.add_argument(
        "--obis", metavar="CODE", type=obis_code, action="append", help="OBIS code, repeatable"
    )
    parser.add_argument(
        "--from", dest="start", metavar="ISO", type=iso_time, help="earliest capture time"
    )
    parser.add_argument(
        "--to", dest="end", metavar="ISO", type=iso_time, help="latest capture time"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line per value")
    parser.set_defaults(handler=run_readings)
