"""`headend command`: send one command to one meter and wait for its final state.

When a `headend run` of the fleet file answers on its control socket, the command goes to it (its
channels, the priority lane before queued bulk reading, its audit log); otherwise it is executed
in this process against the site database, with the same lifecycle and audit.

Exit status: 0 confirmed or armed (a reconnect awaiting the customer's button), 1 failed or
expired, 2 usage or configuration error (an unknown meter, a bad value), 3 the store failed.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from headend.cli.database import open_url, site_url
from headend.cli.usage import UsageError
from headend.commands.model import CommandAction, CommandRecord, CommandRequest, CommandState
from headend.commands.service import CommandService, UnknownTarget
from headend.config import HeadendConfig, load_config
from headend.reading.channels import channel_registry
from headend.service.clock import ServiceClock, clock_for
from headend.service.control import ask

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def duration(text: str) -> timedelta:
    """`90`, `90s`, `5m`, `1h30m`, `2d`: a positive duration."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise argparse.ArgumentTypeError(f"not a duration (e.g. 30s, 5m, 1h30m): {text!r}")
    days, hours, minutes, seconds = match.groups()
    value = timedelta(
        days=int(days or 0),
        hours=int(hours or 0),
        minutes=int(minutes or 0),
        seconds=float(seconds or 0),
    )
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def build_request(args: argparse.Namespace, clock: ServiceClock) -> CommandRequest:
    action = CommandAction(args.action)
    fields: dict[str, Any] = {
        "meter": args.meter,
        "action": action,
        "reason": args.reason,
        "requester": args.requester or f"cli:{getpass.getuser()}",
        "priority": args.priority,
    }
    if args.id is not None:
        fields["id"] = args.id
    if args.expires is not None:
        fields["expires_at"] = clock.now() + args.expires
    if action is CommandAction.LIMIT:
        if args.value is None:
            raise UsageError("limit needs the limit in watts: headend command ... METER limit 2000")
        try:
            fields["limit_w"] = Decimal(args.value)
        except InvalidOperation:
            raise UsageError(f"limit: not a number of watts: {args.value!r}") from None
        if args.lease is not None:
            fields["lease_s"] = max(1, round(args.lease.total_seconds()))
    elif action is CommandAction.TARIFF:
        if args.value is None:
            raise UsageError("tariff needs the tariff programme's name")
        fields["tariff"] = args.value
    elif args.value is not None:
        raise UsageError(f"{action.value} takes no value (got {args.value!r})")
    if args.lease is not None and action is not CommandAction.LIMIT:
        raise UsageError("--lease is for a limit")
    try:
        return CommandRequest.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(f"{where + ': ' if where else ''}{first['msg']}") from None


async def run_command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    clock = clock_for(config.fleet)
    request = build_request(args, clock)
    # another database than the service's: run it here
    record = None if args.db is not None else await _through_service(config, request)
    if record is None:
        record = await _in_process(config, args.db, request, clock)
    if args.json:
        sys.stdout.write(record.model_dump_json() + "\n")
    else:
        sys.stdout.write(
            f"command {record.id}: {record.action.value} on {record.target}: "
            f"{record.state.value} ({record.detail})\n"
        )
    return 0 if record.state in (CommandState.CONFIRMED, CommandState.ARMED) else 1


async def _through_service(config: HeadendConfig, request: CommandRequest) -> CommandRecord | None:
    """The command run by a running `headend run`; None when none answers."""
    socket = Path(config.fleet.service.control_socket)
    try:
        await ask(socket, {"op": "status"}, timeout_s=10.0)
    except (ConnectionError, OSError, TimeoutError, ValueError):
        return None
    sys.stderr.write(f"sent to the running head-end service ({socket})\n")
    try:
        answer = await ask(socket, {"op": "command", **request.model_dump(mode="json")})
    except (ConnectionError, OSError, ValueError) as exc:
        # it may still be running there: never run it a second time here
        raise UsageError(
            f"the head-end service did not answer ({exc}); see `headend audit --command "
            f"{request.id}` for its state"
        ) from None
    if not answer.get("ok"):
        raise UsageError(f"the head-end service refused the command: {answer.get('error')}")
    return CommandRecord.model_validate(answer["command"])


async def _in_process(
    config: HeadendConfig, db: str | None, request: CommandRequest, clock: ServiceClock
) -> CommandRecord:
    store = await open_url(site_url(config, db))
    service = CommandService(config, store, channel_registry(config.fleet), clock)
    try:
        return await service.execute(request)
    except UnknownTarget as exc:
        raise UsageError(f"{config.path}: {exc}") from None
    finally:
        await service.close()
        await store.close()


def add_command_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "command",
        help="send a command to a meter (disconnect, reconnect, limit, release, sync, tariff)",
        description=(
            "Send one command to one configured meter and wait until it is final:\n"
            "  headend command --config site.toml gprs-0001 disconnect --reason 'unpaid'\n"
            "  headend command --config site.toml gprs-0001 limit 2000 --lease 15m --reason peak\n"
            "  headend command --config site.toml gprs-0001 tariff night-saver --reason move\n"
            "A running `headend run` of the same file executes it (its channels, the priority\n"
            "lane); otherwise it runs here against the site database. Either way it is stored\n"
            "before it is sent, audited (`headend audit`), retried after channel failures until\n"
            "it expires, and confirmed by reading the meter's state back. A repeated --id runs\n"
            "once and answers with the first outcome.\n\n"
            "Exit status: 0 confirmed or armed (a reconnect awaiting the customer's button),\n"
            "1 failed or expired, 2 usage or configuration error, 3 the store failed."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", required=True, help="fleet file (TOML)")
    parser.add_argument("meter", metavar="METER", help="the meter's id in the fleet file")
    parser.add_argument(
        "action", choices=[a.value for a in CommandAction], help="what the meter is to do"
    )
    parser.add_argument(
        "value", nargs="?", metavar="W|NAME", help="limit: watts; tariff: the programme's name"
    )
    parser.add_argument("--reason", required=True, metavar="TEXT", help="why (kept in the audit)")
    parser.add_argument(
        "--requester", metavar="NAME", help="who asks (default: cli:<your user name>)"
    )
    parser.add_argument("--id", metavar="ID", help="command id (default: a new one); idempotent")
    parser.add_argument(
        "--expires",
        type=duration,
        metavar="DURATION",
        help="give up after this long, e.g. 5m (default: [service.commands] default_expiry_s)",
    )
    parser.add_argument(
        "--lease",
        type=duration,
        metavar="DURATION",
        help="limit: the meter drops the limit by itself after this long, e.g. 15m",
    )
    parser.add_argument(
        "--priority", type=int, default=5, choices=range(10), metavar="0-9", help="0 most urgent"
    )
    parser.add_argument("--db", metavar="URL", help="store (default: the site database)")
    parser.add_argument("--json", action="store_true", help="print the final record as JSON")
    parser.set_defaults(handler=run_command)
