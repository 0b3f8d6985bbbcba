"""`headend audit`: the command audit log (who asked what of which meter, when, and each state
it went through with the outcome), as a table or JSON lines; the newest `--limit` entries."""

from __future__ import annotations

import argparse
import sys

from rich.table import Table

from headend.cli.database import existing_store, open_url
from headend.cli.output import console
from headend.commands.model import AuditEntry
from headend.config import load_config


async def run_audit(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config is not None else None
    store = await open_url(existing_store(config, args.db))
    try:
        entries = await store.audit(meter=args.meter, command_id=args.command_id, limit=args.limit)
    finally:
        await store.close()
    if not entries:
        sys.stderr.write("headend audit: no entries match\n")
    elif args.json:
        for entry in entries:
            sys.stdout.write(entry.model_dump_json() + "\n")
    else:
        console().print(audit_table(entries))
    return 0


def audit_table(entries: list[AuditEntry]) -> Table:
    table = Table(title=f"{len(entries)} audit entries")
    for column in ("time", "command", "meter", "action", "actor", "state", "detail"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            e.at.isoformat(timespec="seconds"),
            e.command_id,
            e.meter or "-",
            e.action.value,
            e.actor,
            e.state.value,
            e.detail,
        )
    return table


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def add_audit_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "audit",
        help="the command audit log: who asked what, when, and the outcome",
        description=(
            "Every state change of every command (queued, sent, confirmed, armed, failed,\n"
            "expired) with who asked (the requester), when (the service clock) and the detail:\n"
            "  headend audit --config site.toml --meter gprs-0001\n"
            "  headend audit --config site.toml --command 3f2a... --json\n"
            "--limit keeps the newest N entries (printed oldest first)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help="fleet file (its site database)")
    parser.add_argument("--db", metavar="URL", help="store (default: the site database)")
    parser.add_argument("--meter", metavar="ID", help="only this meter's commands")
    parser.add_argument("--command", dest="command_id", metavar="ID", help="only this command")
    parser.add_argument("--limit", type=_positive, metavar="N", help="the newest N entries")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(handler=run_audit)
