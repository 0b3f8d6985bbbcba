"""`headend read`: read one meter by URL, or configured meters by id, and print the values.

Exit codes: 0 every value read; 1 some values failed (one stderr line each: meter, OBIS, reason);
2 usage or configuration error (raised as `UsageError` and reported by `main`).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from drivers.contract import Point, Quality, Reading
from drivers.registry import (
    AnySettings,
    default_points,
    parse_device_url,
    redact_url,
)
from headend.cli.database import open_url, site_url
from headend.cli.output import console, print_failures, print_json, readings_table
from headend.cli.state import counters_path
from headend.cli.urls import url_with_options
from headend.cli.usage import UsageError as UsageError  # re-exported: demo.py imports it here
from headend.config import (
    HeadendConfig,
    ReadingPlan,
    ReadingPolicy,
    load_config,
    meter_settings,
)
from headend.reading import MeterReport, ReadingService, read_meter
from headend.service.control import ask
from headend.service.requests import ReadRequest, ReadResult
from headend.store import Store


class Collector:
    """Keeps every reading for printing and passes it on to the store, if there is one."""

    def __init__(self, store: Store | None) -> None:
        self.readings: list[Reading] = []
        self._store = store

    async def save_readings(self, readings: Sequence[Reading]) -> int:
        self.readings.extend(readings)
        if self._store is None:
            return len(readings)
        return await self._store.save_readings(readings)


def profile_window(args: argparse.Namespace) -> tuple[datetime, datetime] | None:
    if args.profile is None:
        if args.start is not None or args.end is not None:
            raise UsageError("--from/--to need --profile")
        return None
    end = args.end or datetime.now(UTC)
    start = args.start or end - timedelta(days=1)
    if start >= end:
        raise UsageError("--from must be before --to")
    return start, end


async def run_read(args: argparse.Namespace) -> int:
    if args.config is None:
        if len(args.target) != 1:
            raise UsageError("give one device URL, or --config FILE and meter ids")
        readings, reports = await _read_url(args)
    else:
        readings, reports = await _read_config(args)
    if args.json:
        print_json(readings)
    elif readings:
        console().print(readings_table(readings))
    failed = print_failures(reports)
    return 1 if failed else 0


async def _open_store(url: Path | str | None) -> Store | None:
    return None if url is None else await open_url(str(url))


def uses_counters(settings: AnySettings) -> bool:
    """Whether a session with this meter sends invocation counters (DLMS HLS-GMAC or ciphering)."""
    return settings.protocol == "dlms" and (settings.cipher or settings.auth == "hls-gmac")


async def _read_url(args: argparse.Namespace) -> tuple[list[Reading], list[MeterReport]]:
    settings: AnySettings = parse_device_url(url_with_options(args.target[0], args))
    meter_id = args.meter_id or redact_url(args.target[0])
    window = profile_window(args)
    points = [Point(obis=o) for o in args.obis] if args.obis else []
    if not args.obis and args.profile is None:
        points = default_points(settings)
    plan = ReadingPlan(
        name="cli", points=[p.obis for p in points], profile=args.profile, skip_unsupported=False
    )
    # Counters of a ciphered meter must outlive this process (a real meter refuses a counter it
    # has seen): --counters, else --db, else the per-user state file.
    counters_file: Path | None = None
    if uses_counters(settings) and (args.counters is not None or args.db is None):
        counters_file = Path(args.counters) if args.counters is not None else counters_path()
    store = await _open_store(args.db)
    counter_store = await _open_store(counters_file)
    try:
        collector = Collector(store)
        report = await read_meter(
            meter_id,
            settings.link.describe(),
            plan=plan,
            points=points,
            window=window,
            policy=ReadingPolicy(retries=args.retries),
            resolve=lambda _: settings,
            sink=collector,
            contacts=store,
            counters=counter_store or store,
        )
    finally:
        for opened in (store, counter_store):
            if opened is not None:
                await opened.close()
    if counters_file is not None:
        sys.stderr.write(f"invocation counters kept in {counters_file}\n")
    return collector.readings, [report]


async def _read_config(args: argparse.Namespace) -> tuple[list[Reading], list[MeterReport]]:
    if args.counters is not None:
        raise UsageError(
            "--counters is for a URL; with --config the counters live in the site database"
        )
    config = load_config(args.config)
    fleet = config.fleet
    known = {m.id for m in fleet.meters}
    unknown = [m for m in args.target if m not in known]
    if unknown:
        raise UsageError(f"{args.config}: no meter(s) {', '.join(unknown)} in the fleet")
    if args.plan is not None:
        try:
            plan = fleet.plan(args.plan)
        except KeyError:
            names = ", ".join(p.name for p in fleet.plans) or "none"
            raise UsageError(f"{args.config}: no plan {args.plan!r} (plans: {names})") from None
        if args.obis:  # asked for by name: a meter that cannot have them reports a failure
            plan = plan.model_copy(update={"points": args.obis, "skip_unsupported": False})
        if args.profile:
            plan = plan.model_copy(update={"profile": args.profile})
    else:
        # No points and no profile: each meter's standard set (a Modbus meter's whole map).
        plan = ReadingPlan(
            name="cli",
            points=args.obis or [],
            profile=args.profile,
            skip_unsupported=not args.obis,
        )
    window = profile_window(args) if args.profile else None
    served = await _through_service(config, args, plan, window)
    if served is not None:
        return served

    def resolve(meter_id: str) -> AnySettings:
        settings = meter_settings(config, meter_id)
        if args.timeout is None:
            return settings
        return settings.model_copy(
            update={"timeout_s": args.timeout, "connect_timeout_s": args.timeout}
        )

    store = await open_url(site_url(config, args.db))
    try:
        collector = Collector(store)
        service = ReadingService(config, collector, contacts=store, counters=store, resolve=resolve)
        report = await service.run(plan, args.target or None, window=window)
    finally:
        await store.close()
    return collector.readings, report.meters


async def _through_service(
    config: HeadendConfig,
    args: argparse.Namespace,
    plan: ReadingPlan,
    window: tuple[datetime, datetime] | None,
) -> tuple[list[Reading], list[MeterReport]] | None:
    """Send the read to a running `headend run` of this fleet file (its channels, the priority
    lane); None when no service answers on the control socket."""
    if args.db is not None or args.timeout is not None or not args.target:
        return None  # another database, or per-read options the service does not take
    socket = Path(config.fleet.service.control_socket)
    request = ReadRequest(
        meters=args.target,
        plan=args.plan,
        points=plan.points if args.plan is None or args.obis else [],
        profile=plan.profile if args.plan is None or args.profile else None,
        start=window[0] if window else None,
        end=window[1] if window else None,
        requester=f"cli:{getpass.getuser()}",
    )
    try:
        answer = await ask(socket, request.model_dump(mode="json"))
    except (ConnectionError, OSError):
        return None
    result = ReadResult.model_validate(answer)
    if result.error is not None:
        raise UsageError(f"the head-end service refused the read: {result.error}")
    sys.stderr.write(f"read by the running head-end service ({socket})\n")
    readings = [
        Reading(
            meter_id=row.meter,
            obis=row.obis,
            value=_row_value(row.value, row.unit),
            unit=row.unit,
            capture_time=row.capture_time,
            receive_time=datetime.now(UTC),
            quality=Quality(row.quality),
        )
        for row in result.readings
    ]
    return readings, result.meters


def _row_value(text: str, unit: str | None) -> Decimal | datetime | str:
    try:
        return Decimal(text)
    except InvalidOperation:
        pass
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return text


def add_read_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from headend.cli.arguments import add_read_arguments

    parser = commands.add_parser(
        "read",
        help="read one meter by URL, or configured meters by id",
        description=(
            "Read registers (and optionally a load profile) and print them. Either a device URL:\n"
            "  headend read dlms+tcp://10.0.0.7:4059 --auth low        (HEADEND_PASSWORD set)\n"
            "  headend read 'dlms+hdlc+tcp://dc1:4060?physical=17' --obis 1.0.1.8.0.255 --json\n"
            "  headend read dlms+serial:///dev/ttyUSB0?baud=9600 --profile 1.0.99.1.0.255 \\\n"
            "      --from 2025-03-01T00:00 --to 2025-03-02T00:00\n"
            "or meters of a fleet file (readings and counters go to the site database):\n"
            "  headend read --config config/demo.toml gprs-0001 dc1-0001\n"
            "Other protocols take their options in the URL:\n"
            "  headend read 'modbus+tcp://10.0.0.8:502?unit=1&model=dtsu666' --json\n"
            "  headend read 'dlt645+serial:///dev/ttyUSB1?baud=2400&address=123456789012'\n\n"
            "Secrets come only from the environment: HEADEND_PASSWORD (LLS), HEADEND_AUTH_KEY,\n"
            "HEADEND_BLOCK_KEY (hex) and HEADEND_SYSTEM_TITLE (hex) for URLs; key references\n"
            "(keys file, HEADEND_KEY_<REF>_PASSWORD/_AUTH/_BLOCK) for fleet files.\n"
            "The invocation counters of a ciphered meter read by URL are kept in\n"
            "$XDG_STATE_HOME/headend/counters.sqlite3 (~/.local/state/...) unless --db or\n"
            "--counters names a file: a real meter refuses a counter it has already seen.\n\n"
            "Exit status: 0 all values read, 1 some failed (one line each on stderr), 2 usage or\n"
            "configuration error, 141 output cut short (e.g. piped into head)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_read_arguments(parser)
    parser.set_defaults(handler=run_read, _stderr=sys.stderr)
