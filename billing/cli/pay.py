"""`headend pay`, `headend payments import` and `headend prepay`: payments into prepaid accounts
and a look at them.

A payment or a payments file goes to the running `headend run` of the same fleet file when its
control socket answers (fee control there acts on it at once, on the service's channels);
otherwise it is applied here, in this process, against the site database, with a command service
of its own for the reconnect a payment may cause, which is waited for before exiting. Either way
a payment reference is applied once. `headend prepay` reads the accounts from the database.

Exit status: 0 done (a duplicate reference too: it was applied before), 1 a payment refused (above
the credit cap, no account), 2 a usage or configuration problem or a malformed payments file
(nothing applied), 3 the store failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from billing.cli.session import billing_session
from billing.config import billing_of
from billing.prepay.store import account, accounts, history
from billing.service.desk import PrepayDesk, account_json
from billing.service.prepay import prepay_runner
from billing.service.scope import PrepayScope, prepay_scope
from billing.store.database import open_billing_db
from billing.store.schema import MIGRATIONS
from headend.cli.database import check_url, open_url, site_url
from headend.cli.output import console
from headend.cli.usage import UsageError
from headend.commands.service import CommandService
from headend.config import HeadendConfig, load_config
from headend.reading.channels import channel_registry
from headend.service.clock import clock_for
from headend.service.control import ask


def _scope(config: HeadendConfig) -> PrepayScope:
    scope = prepay_scope(billing_of(config))
    if scope is None:
        raise UsageError(f"{config.path}: no [billing.prepay] section: no prepaid accounts")
    return scope


@asynccontextmanager
async def local_desk(config: HeadendConfig, db: str | None) -> AsyncIterator[PrepayDesk]:
    """The desk in this process: the store, billing's tables and a command service of its own."""
    billing = billing_of(config)
    scope = _scope(config)
    url = check_url(site_url(config, db))
    store = await open_url(url)
    try:
        billing_db = await open_billing_db(url, MIGRATIONS)
        try:
            clock = clock_for(config.fleet)
            commands = CommandService(config, store, channel_registry(config.fleet), clock)
            runner = prepay_runner(billing, scope, billing_db, commands, store, clock)
            runner.fee.listen()
            try:
                await runner.open_accounts()  # as the service does when it starts
                yield PrepayDesk(runner, commands)
            finally:
                await runner.stop()
                await commands.close()
        finally:
            await billing_db.close()
    finally:
        await store.close()


async def through_service(config: HeadendConfig, request: dict[str, Any]) -> dict[str, Any] | None:
    """The running service's answer; None when no service answers on the control socket."""
    socket = Path(config.fleet.service.control_socket)
    try:
        await ask(socket, {"op": "status"}, timeout_s=10.0)
    except (ConnectionError, OSError, TimeoutError, ValueError):
        return None
    sys.stderr.write(f"sent to the running head-end service ({socket})\n")
    try:
        return await ask(socket, request)
    except (ConnectionError, OSError, ValueError) as exc:
        # it may have been applied there: never apply it a second time here
        raise UsageError(
            f"the head-end service did not answer ({exc}); `headend prepay --meter` shows "
            "whether the payment was applied"
        ) from None


async def _answer(args: argparse.Namespace, request: dict[str, Any]) -> dict[str, Any]:
    config = load_config(args.config)
    _scope(config)  # a fleet file without the section is a usage problem either way
    answer = None if args.db is not None else await through_service(config, request)
    if answer is None:
        async with local_desk(config, args.db) as desk:
            handler = {"pay": desk.pay, "payments_import": desk.import_file}[request["op"]]
            answer = await handler(request)
    return answer


def _at(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--at {text!r}: not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise UsageError(f"--at {text}: give its offset (Z or +hh:mm)")
    return at.isoformat()


async def run_pay(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {
        "op": "pay",
        "meter": args.meter,
        "amount": args.amount,
        "reference": args.ref,
        "source": "cli",
    }
    at = _at(args.at)
    if at is not None:
        request["time"] = at
    answer = await _answer(args, request)
    if not answer.get("ok"):
        raise UsageError(f"nothing applied: {answer.get('error')}")
    if args.json:
        sys.stdout.write(json.dumps(answer) + "\n")
    else:
        payment, acct, command = answer["payment"], answer["account"], answer["command"]
        detail = f" ({payment['detail']})" if payment["detail"] else ""
        sys.stdout.write(f"payment {payment['reference']}: {payment['outcome']}{detail}\n")
        if acct is not None:
            sys.stdout.write(
                f"{acct['meter_id']}: balance {answer['money']}, state {acct['state']}, "
                f"relay {acct['relay']}\n"
            )
        if command is not None:
            sys.stdout.write(
                f"{command['action']} {command['id']}: {command['state']} ({command['detail']})\n"
            )
    return 1 if answer["payment"]["outcome"] == "refused" else 0


async def run_payments_import(args: argparse.Namespace) -> int:
    request = {"op": "payments_import", "path": args.path}
    answer = await _answer(args, request)
    if not answer.get("ok"):
        raise UsageError(f"{answer.get('error')}; nothing applied")
    report = answer["report"]
    if args.json:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        sys.stdout.write(
            f"{report['path']}: {report['applied']} applied, {report['duplicate']} duplicate, "
            f"{report['refused']} refused\n"
        )
        for result in report["results"]:
            if result["outcome"] == "refused":
                sys.stdout.write(f"  refused {result['reference']}: {result['detail']}\n")
        for command in answer.get("commands", []):
            sys.stdout.write(
                f"{command['action']} {command['id']} ({command['meter']}): {command['state']} "
                f"({command['detail']})\n"
            )
    return 1 if report["refused"] else 0


async def run_prepay(args: argparse.Namespace) -> int:
    async with billing_session(args.config, args.db) as session:
        scope = _scope(session.billing.config)
        s = scope.settings
        if args.meter is not None:
            if args.meter not in scope.meters:
                raise UsageError(f"--meter: {args.meter!r} is not a prepaid meter")
            found = await account(session.db, args.meter)
            entries = await history(session.db, args.meter) if found is not None else []
            if args.json:
                shown = {
                    "account": account_json(found),
                    "history": [history_json(e) for e in entries],
                }
                sys.stdout.write(json.dumps(shown) + "\n")
                return 0
            out = console()
            if found is None:
                out.print(f"{args.meter}: no account yet (opened when the service first runs)")
                return 0
            out.print(_accounts_table([found], s.money, f"prepaid account {args.meter}"))
            table = Table(title="balance history")
            for column in ("#", "at", "cause", "reference", "change", "balance", "emergency owed"):
                table.add_column(column)
            for e in entries:
                table.add_row(
                    str(e.entry),
                    e.at.isoformat(),
                    e.cause,
                    e.reference,
                    s.money(e.delta),
                    s.money(e.balance_after),
                    s.money(e.emergency_owed_after),
                )
            out.print(table)
            return 0
        found_all = [a for a in await accounts(session.db) if a.meter_id in scope.meters]
    if args.json:
        opened = {a.meter_id for a in found_all}
        sys.stdout.write(
            json.dumps(
                {
                    "accounts": [account_json(a) for a in found_all],
                    "not_opened": [m for m in scope.meters if m not in opened],
                }
            )
            + "\n"
        )
        return 0
    table = _accounts_table(found_all, s.money, "prepaid accounts")
    opened = {a.meter_id for a in found_all}
    for meter in scope.meters:
        if meter not in opened:
            table.add_row(meter, "-", "-", "not opened", "-", "opened when the service starts", "-")
    console().print(table)
    return 0


def history_json(entry: Any) -> dict[str, Any]:
    return {
        "entry": entry.entry,
        "at": entry.at.isoformat(),
        "delta": str(entry.delta),
        "balance_after": str(entry.balance_after),
        "emergency_owed_after": str(entry.emergency_owed_after),
        "cause": entry.cause,
        "reference": entry.reference,
    }


def _accounts_table(found: list[Any], money: Any, title: str) -> Table:
    table = Table(title=title)
    for column in ("meter", "balance", "emergency owed", "state", "relay", "why", "until"):
        table.add_column(column)
    for a in found:
        why = a.why + (f" (command {a.pending_command})" if a.pending_command else "")
        table.add_row(
            a.meter_id,
            money(a.balance),
            money(a.emergency_owed),
            a.state.value,
            a.relay,
            why,
            a.until.isoformat() if a.until is not None else "-",
        )
    return table


def add_pay_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pay = commands.add_parser(
        "pay",
        help="pay into a prepaid account (reconnects when the balance allows)",
        description=(
            "Credit a payment to a prepaid meter's account, once per reference:\n"
            "  headend pay --config site.toml gprs-0001 20.00 --ref BANK-20261103-0042\n"
            "A running `headend run` of the same file applies it (and reconnects there);\n"
            "otherwise it is applied here and a reconnect it causes is waited for.\n"
            "Exit status: 0 applied (or applied before: a duplicate reference), 1 refused\n"
            "(above the credit cap), 2 usage or configuration error (nothing applied)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pay.add_argument("--config", required=True, metavar="FILE", help="fleet file")
    pay.add_argument("meter", metavar="METER", help="the prepaid meter's id")
    pay.add_argument("amount", metavar="AMOUNT", help="in the account currency, e.g. 20.00")
    pay.add_argument("--ref", required=True, metavar="ID", help="the payment's unique reference")
    pay.add_argument("--at", metavar="ISO", help="when it was paid (default: now)")
    pay.add_argument("--db", metavar="URL", help="database (default: the site database)")
    pay.add_argument("--json", action="store_true", help="the answer as one JSON object")
    pay.set_defaults(handler=run_pay)

    payments = commands.add_parser(
        "payments",
        help="import the back-office's payments file",
        description="Payments from the back-office: `headend payments import --help`.",
    )
    actions = payments.add_subparsers(dest="payments_action", metavar="ACTION", required=True)
    imp = actions.add_parser(
        "import",
        help="apply a payments file (CSV: meter,amount,reference,time), each reference once",
        description=(
            "Apply a payments file from the back-office, each reference once however often the\n"
            "file is imported:\n"
            "  headend payments import --config site.toml payments-20261103.csv\n"
            "CSV with the header meter,amount,reference,time (time ISO 8601 with its offset).\n"
            "The whole file is checked first: a malformed line refuses it (file, line, column\n"
            "and reason; exit 2) and nothing of it is applied. Exit 1 when a payment was\n"
            "refused (each named), 0 otherwise."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("--config", required=True, metavar="FILE", help="fleet file")
    # absolute: the service that may import it runs in another directory
    imp.add_argument(
        "path", metavar="PATH", type=lambda text: str(Path(text).absolute()), help="CSV file"
    )
    imp.add_argument("--db", metavar="URL", help="database (default: the site database)")
    imp.add_argument("--json", action="store_true", help="the report as one JSON object")
    imp.set_defaults(handler=run_payments_import)

    view = commands.add_parser(
        "prepay",
        help="show prepaid accounts (balance, state, relay, why) or one account's history",
        description=(
            "The prepaid accounts from the site database:\n"
            "  headend prepay --config site.toml                # every account\n"
            "  headend prepay --config site.toml --meter ID     # with its balance history"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    view.add_argument("--config", required=True, metavar="FILE", help="fleet file")
    view.add_argument("--meter", metavar="ID", help="one account and its balance history")
    view.add_argument("--db", metavar="URL", help="database (default: the site database)")
    view.add_argument("--json", action="store_true", help="one JSON object")
    view.set_defaults(handler=run_prepay)
