"""`headend dr`: start, modify, cancel and list demand-response events at run time.

A start is version 1 of a new event; a modification or a cancellation is the next version of
the event's latest (stored, or scheduled in the fleet file's `[load] demand_response`). When a
`headend run` of the fleet file answers on its control socket, the version goes to it: it is
stored there and its load manager applies it from its next cycle. Otherwise it is stored in the
site database, and the service loads it when it next starts. Either way the version is audited
as a head-end event 1030 `demand_response` (who asked, what changed, why).

Exit status: 0 stored (and applied by the running service), 2 usage or configuration error (an
unknown feeder or household, a version superseded meanwhile, a bad time), 3 the store failed.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.table import Table

from headend.cli.arguments import iso_time, positive_float
from headend.cli.command import duration
from headend.cli.database import open_url, shown_url, site_url
from headend.cli.output import console
from headend.cli.usage import UsageError
from headend.config import HeadendConfig, load_config
from headend.config.load import DemandResponseEvent
from headend.service.clock import clock_for
from headend.service.control import ask
from headend.service.demand_response import check_event, configured_events
from headend.store.base import StaleDemandResponse, StoreError
from headend.store.demand_response_rows import describe


@dataclass(frozen=True, slots=True)
class _Service:
    """A running `headend run` of the fleet file: its socket and its clock now."""

    socket: Path
    now: datetime


async def run_dr(args: argparse.Namespace) -> int:
    if getattr(args, "config", None) is None:
        raise UsageError("give --config FILE (the fleet file of the head-end)")
    if args.action is None:
        raise UsageError("give an action: start, modify, cancel or list (headend dr --help)")
    config = load_config(args.config)
    # another database than the service's: store it there, leave the service alone
    service = None if args.db is not None else await _running(config)
    now = service.now if service is not None else clock_for(config.fleet).now()
    if args.action == "list":
        return await _list(config, args.db, now, args.json)
    event = await _version(config, args, now)
    try:
        check_event(config.fleet.load, event)
    except ValueError as exc:
        raise UsageError(f"{config.path}: {exc}") from None
    requester = args.requester or f"cli:{getpass.getuser()}"
    reason = args.reason or ""
    if service is not None:
        sys.stderr.write(f"sent to the running head-end service ({service.socket})\n")
        stored = await _through_service(service, event, requester, reason)
        where = "applied from the load manager's next cycle"
    else:
        url = site_url(config, args.db)
        stored = await _in_process(url, event, requester, reason, now)
        where = f"stored in {shown_url(url)}; the head-end applies it when it next starts"
    if args.json:
        sys.stdout.write(stored.model_dump_json() + "\n")
    else:
        state = "cancelled" if stored.cancelled else describe(stored)
        sys.stdout.write(f"demand response {stored.id} version {stored.version}: {state}\n")
        sys.stderr.write(f"{where}\n")
    return 0


async def _running(config: HeadendConfig) -> _Service | None:
    socket = Path(config.fleet.service.control_socket)
    try:
        status = await ask(socket, {"op": "status"}, timeout_s=10.0)
    except (ConnectionError, OSError, TimeoutError, ValueError):
        return None
    clock = status.get("clock")
    # the service's clock: a simulated one runs ahead of this process's idea of "now"
    now = datetime.fromisoformat(clock) if isinstance(clock, str) else None
    return _Service(socket, now or clock_for(config.fleet).now())


async def _version(
    config: HeadendConfig, args: argparse.Namespace, now: datetime
) -> DemandResponseEvent:
    """The version to store: a new event, or the next version of the event's latest."""
    if args.action == "start":
        missing = [
            option
            for option, absent in (
                ("--feeder or --households", args.feeder is None and args.households is None),
                ("--reduction-kw", args.reduction_kw is None),
                ("--end or --duration", args.end is None and args.duration is None),
            )
            if absent
        ]
        if missing:
            raise UsageError(f"start needs {', '.join(missing)}")
        fields: dict[str, Any] = {"id": args.id or f"dr-{uuid.uuid4().hex[:12]}", "version": 1}
        fields.update(_target(args))
        fields["start"] = now if args.start in (None, "now") else args.start
        fields["end"] = args.end if args.end is not None else fields["start"] + args.duration
        fields["reduction_kw"] = args.reduction_kw
        if args.spread is not None:
            fields["spread"] = args.spread
        current = await _latest(config, args.db, fields["id"])
        if current is not None:
            raise UsageError(
                f"event {current.id!r} exists (version {current.version}): modify or cancel it, "
                "or start one with another --id"
            )
        return _event(fields)
    current = await _latest(config, args.db, args.event_id)
    if current is None:
        raise UsageError(f"no demand-response event {args.event_id!r} (headend dr ... list)")
    if current.cancelled:
        raise UsageError(f"event {current.id!r} is cancelled (version {current.version})")
    fields = current.model_dump()
    fields["version"] = current.version + 1
    if args.action == "cancel":
        fields["cancelled"] = True
        return _event(fields)
    target = _target(args)
    if target:
        fields.update(feeder=None, households=None, **target)
    if args.start is not None:
        fields["start"] = now if args.start == "now" else args.start
    if args.end is not None:
        fields["end"] = args.end
    elif args.duration is not None:
        fields["end"] = fields["start"] + args.duration
    if args.reduction_kw is not None:
        fields["reduction_kw"] = args.reduction_kw
    if args.spread is not None:
        fields["spread"] = args.spread
    return _event(fields)


def _target(args: argparse.Namespace) -> dict[str, Any]:
    if args.feeder is not None:
        return {"feeder": args.feeder}
    if args.households is not None:
        members = [h.strip() for h in args.households.split(",") if h.strip()]
        return {"households": members}
    return {}


def _event(fields: dict[str, Any]) -> DemandResponseEvent:
    try:
        return DemandResponseEvent.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise UsageError(f"{where + ': ' if where else ''}{message}") from None


async def _latest(
    config: HeadendConfig, db: str | None, event_id: str
) -> DemandResponseEvent | None:
    """The event's latest version, stored or scheduled in the fleet file; None if unknown."""
    store = await open_url(site_url(config, db))
    try:
        stored = {e.id: e for e in await store.demand_responses()}.get(event_id)
    finally:
        await store.close()
    configured = configured_events(config.fleet.load).get(event_id)
    candidates = [e for e in (stored, configured) if e is not None]
    return max(candidates, key=lambda e: e.version) if candidates else None


async def _through_service(
    service: _Service, event: DemandResponseEvent, requester: str, reason: str
) -> DemandResponseEvent:
    request = {
        "op": "demand_response",
        "event": event.model_dump(mode="json"),
        "requester": requester,
        "reason": reason,
    }
    try:
        answer = await ask(service.socket, request, timeout_s=60.0)
    except (ConnectionError, OSError, TimeoutError, ValueError) as exc:
        raise UsageError(
            f"the head-end service did not answer ({exc}); `headend dr ... list` shows whether "
            f"version {event.version} of {event.id!r} was stored"
        ) from None
    if not answer.get("ok"):
        if answer.get("store_failed"):
            raise StoreError(str(answer.get("error")))
        raise UsageError(f"the head-end service refused it: {answer.get('error')}")
    return DemandResponseEvent.model_validate(answer["event"])


async def _in_process(
    url: str, event: DemandResponseEvent, requester: str, reason: str, now: datetime
) -> DemandResponseEvent:
    store = await open_url(url)
    try:
        return await store.save_demand_response(event, requester, reason=reason, at=now)
    except StaleDemandResponse as exc:
        raise UsageError(str(exc)) from None
    finally:
        await store.close()


async def _list(config: HeadendConfig, db: str | None, now: datetime, as_json: bool) -> int:
    store = await open_url(site_url(config, db))
    try:
        stored = await store.demand_responses()
    finally:
        await store.close()
    rows: dict[str, tuple[DemandResponseEvent, str]] = {
        e.id: (e, "fleet file") for e in configured_events(config.fleet.load).values()
    }
    for event in stored:
        known = rows.get(event.id)
        if known is None or event.version > known[0].version:
            rows[event.id] = (event, "stored")
    listed = sorted(rows.values(), key=lambda row: (row[0].start, row[0].id))
    if as_json:
        for event, source in listed:
            line = {**event.model_dump(mode="json"), "source": source, "state": _state(event, now)}
            sys.stdout.write(json.dumps(line) + "\n")
        return 0
    if not listed:
        sys.stderr.write("headend dr: no demand-response events\n")
        return 0
    table = Table(title=f"{len(listed)} demand-response events at {now.isoformat('T', 'seconds')}")
    for column in ("id", "version", "state", "target", "kW", "start", "end", "spread", "source"):
        table.add_column(column)
    for event, source in listed:
        target = f"feeder {event.feeder}" if event.feeder else f"{len(event.households or ())} hh"
        table.add_row(
            event.id,
            str(event.version),
            _state(event, now),
            target,
            f"{event.reduction_kw:g}",
            event.start.isoformat(timespec="seconds"),
            event.end.isoformat(timespec="seconds"),
            str(event.spread),
            source,
        )
    console().print(table)
    return 0


def _state(event: DemandResponseEvent, now: datetime) -> str:
    if event.cancelled:
        return "cancelled"
    if now < event.start:
        return "scheduled"
    return "active" if now < event.end + event.spread else "over"


def _when(text: str) -> datetime | str:
    """`now` or an ISO-8601 time (UTC when it has no offset)."""
    return "now" if text.strip().lower() == "now" else iso_time(text)


def add_dr_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "dr",
        help="demand response: start, modify, cancel or list events at run time",
        description=(
            "Demand-response events at run time (a reduction in kW of a feeder's or a group's\n"
            "load between a start and an end, each household starting and ending late by its\n"
            "own offset within the spread):\n"
            "  headend dr --config site.toml start --feeder feeder-2 --reduction-kw 40 \\\n"
            "      --duration 2h --spread 10m --reason 'grid operator request'\n"
            "  headend dr --config site.toml modify dr-4711 --reduction-kw 25 \\\n"
            "      --end 2026-11-30T21:00Z\n"
            "  headend dr --config site.toml cancel dr-4711 --reason 'peak passed'\n"
            "  headend dr --config site.toml list [--json]\n"
            "A modification or a cancellation is a new version of the event (the newer version\n"
            "replaces the older). A running `headend run` of the same file stores it and applies\n"
            "it from its next control cycle; otherwise it is stored in the site database and the\n"
            "service applies it when it starts. Each version is audited (head-end event 1030,\n"
            "`headend events`).\n\n"
            "Exit status: 0 stored, 2 usage or configuration error, 3 the store failed."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help="fleet file (TOML)")
    parser.add_argument("--db", metavar="URL", help="store (default: the site database)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    common = argparse.ArgumentParser(add_help=False)
    # also accepted after the action; SUPPRESS keeps one given before it
    common.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="fleet file")
    common.add_argument("--db", metavar="URL", default=argparse.SUPPRESS, help="store")
    common.add_argument("--json", action="store_true", help="print the result as JSON")
    changes = argparse.ArgumentParser(add_help=False)
    changes.add_argument("--requester", metavar="NAME", help="who asks (default: cli:<user>)")
    target = changes.add_mutually_exclusive_group()
    target.add_argument("--feeder", metavar="ID", help="the feeder whose load is reduced")
    target.add_argument(
        "--households", metavar="A,B,...", help="a group of households (meter ids) instead"
    )
    changes.add_argument(
        "--reduction-kw", type=positive_float, metavar="KW", help="the reduction target in kW"
    )
    changes.add_argument(
        "--start", type=_when, metavar="ISO|now", help="when it starts (UTC without offset)"
    )
    window = changes.add_mutually_exclusive_group()
    window.add_argument("--end", type=iso_time, metavar="ISO", help="when it ends")
    window.add_argument(
        "--duration", type=duration, metavar="DURATION", help="or how long it lasts, e.g. 2h"
    )
    changes.add_argument(
        "--spread",
        type=_spread,
        metavar="DURATION",
        help="households start and end late by up to this much, e.g. 10m (default 0)",
    )

    start = actions.add_parser(
        "start", parents=[common, changes], help="start (or schedule) a new event"
    )
    start.add_argument("--id", metavar="ID", help="the event's id (default: a new one)")
    start.add_argument("--reason", required=True, metavar="TEXT", help="why (kept in the audit)")
    modify = actions.add_parser(
        "modify", parents=[common, changes], help="change an event (its next version)"
    )
    modify.add_argument("event_id", metavar="ID", help="the event's id")
    modify.add_argument("--reason", metavar="TEXT", help="why (kept in the audit)")
    cancel = actions.add_parser(
        "cancel", parents=[common], help="cancel an event (its next version, cancelled)"
    )
    cancel.add_argument("event_id", metavar="ID", help="the event's id")
    cancel.add_argument("--reason", metavar="TEXT", help="why (kept in the audit)")
    cancel.add_argument("--requester", metavar="NAME", help="who asks (default: cli:<user>)")
    actions.add_parser("list", parents=[common], help="the events: stored and in the fleet file")
    parser.set_defaults(handler=run_dr, action=None)


def _spread(text: str) -> timedelta:
    return timedelta(0) if text.strip() in ("0", "0s") else duration(text)
