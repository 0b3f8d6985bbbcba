"""`headend bill`: bill a period for the fleet (or some meters), store each bill with its line
items, and print a summary: bills by quality, totals per currency, what VEE estimated and why,
and every meter that could not be billed with the reason. Exit 0: every meter billed; 1: some
could not be; 2: a usage or configuration problem."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import UTC, datetime

from rich.table import Table

from billing.cli.session import billing_session
from billing.jobs.bill import BillRun, bill_period
from billing.period import BillingPeriod
from headend.cli.output import console
from headend.cli.usage import UsageError


async def run_bill(args: argparse.Namespace) -> int:
    try:
        BillingPeriod.month(args.period)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    async with billing_session(args.config, args.db) as session:
        meters = parse_meters(args.meters, session.billing.customers())
        run = await bill_period(
            session.billing,
            session.store,
            session.db,
            args.period,
            meters=meters,
            now=datetime.now(UTC),
        )
    if args.json:
        sys.stdout.write(json.dumps(summary(run)) + "\n")
    else:
        print_summary(run)
    for meter, reason in sorted(run.failed.items()):
        sys.stderr.write(f"headend bill: meter {meter}: not billed: {reason}\n")
    return 1 if run.failed else 0


def parse_meters(asked: list[str] | None, customers: list[str]) -> list[str] | None:
    if not asked:
        return None
    wanted = [m for text in asked for m in text.split(",") if m]
    known = set(customers)
    unknown = [m for m in wanted if m not in known]
    if unknown:
        raise UsageError(f"--meters: no customer meter {', '.join(unknown)} in the fleet file")
    return wanted


def summary(run: BillRun) -> dict[str, object]:
    rules: Counter[str] = Counter()
    for findings in run.findings.values():
        rules.update(f.rule for f in findings)
    return {
        "period": run.period,
        "billed": len(run.bills),
        "new": run.new,
        "failed": run.failed,
        "quality": dict(Counter(b.quality for b in run.bills)),
        "totals": {currency: str(amount) for currency, amount in run.total.items()},
        "estimated_kwh": str(sum((b.estimated_kwh for b in run.bills), start=0)),
        "findings_by_rule": dict(rules),
        "seconds": round(run.seconds, 3),
    }


def print_summary(run: BillRun) -> None:
    out = console()
    facts = summary(run)
    table = Table(title=f"Bills for {run.period}")
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("meters billed", str(len(run.bills)))
    table.add_row("new bills stored", f"{run.new} ({len(run.bills) - run.new} unchanged)")
    for quality, count in sorted(Counter(b.quality for b in run.bills).items()):
        table.add_row(f"  quality {quality}", str(count))
    for currency, amount in sorted(run.total.items()):
        table.add_row(f"total {currency}", f"{amount:,}")
    table.add_row("estimated energy", f"{facts['estimated_kwh']} kWh")
    table.add_row("could not bill", str(len(run.failed)))
    table.add_row("time", f"{run.seconds:.2f} s")
    out.print(table)
    rules = facts["findings_by_rule"]
    if isinstance(rules, dict) and rules:
        vee = Table(title="What validation and estimation found")
        vee.add_column("rule")
        vee.add_column("meters x findings", justify="right")
        for rule, count in sorted(rules.items()):
            vee.add_row(rule, str(count))
        out.print(vee)


def add_bill_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "bill",
        help="bill a period from stored readings: tariffs, VEE, bills with line items",
        description=(
            "Bill a month for every customer meter of the fleet file (or --meters), from the\n"
            "readings in its site database, on the tariffs of its [billing] section:\n"
            "  headend bill --config site.toml --period 2026-10\n"
            "  headend bill --config site.toml --period 2026-10 --meters m1,m2 --json\n"
            "Each bill is stored with its line items and what validation and estimation found;\n"
            "a re-run for the same data gives the same bill. Exit 1 when a meter could not be\n"
            "billed (each is named on stderr with the reason)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="fleet file")
    parser.add_argument("--period", required=True, metavar="YYYY-MM", help="the month to bill")
    parser.add_argument("--meters", nargs="+", metavar="ID", help="only these (ids or a,b,c)")
    parser.add_argument("--db", metavar="URL", help="database (default: the site database)")
    parser.add_argument("--json", action="store_true", help="the summary as one JSON object")
    parser.set_defaults(handler=run_bill)
