"""`headend demo-read` and `headend simulate`: the configured fleet as simulated meters
(DLMS/COSEM, Modbus and DL/T 645, as declared in the fleet file).

`demo-read` (the reading demo; `headend demo` is the grid demo, headend.cli.grid_demo) starts the
simulated fleet on free loopback ports, reads it through the fleet config with the reading
service, stores the readings in SQLite and prints a summary. `simulate` serves the fleet on the
configured ports until Ctrl-C, for `headend read --config` from another shell; with `--meters N`
it generates a fleet (headend.simulation.generator), serves it and writes its fleet file; with
`--feeders F` as well, the households are on F feeders (headend.simulation.grid).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from drivers.channel.fdlimit import raise_open_files_limit
from headend.cli.database import open_url, shown_url
from headend.cli.output import console, meters_table, protocols_table, summary_table
from headend.cli.read import UsageError
from headend.config import HeadendConfig, ReadingPlan, load_config
from headend.config.fleet import DlmsMeter, Dlt645Meter, ModbusMeter, TcpChannel
from headend.reading import MeterReport, MeterStatus, ReadingService
from headend.simulation import simulated_fleet
from headend.simulation.fleet import SimulatedFleet
from headend.simulation.generated import GeneratedFleet, GridSetup, generated_fleet
from headend.simulation.generator import FleetShape, counts
from headend.simulation.grid import GridShape

DEFAULT_DB = "var/demo.sqlite3"


def pick_meters(config: HeadendConfig, count: int | None) -> HeadendConfig:
    """The first `count` meters taken round-robin over the channels, so a small demo still has
    wrapper meters and concentrator meters, LLS and HLS ones, Modbus and DL/T 645 ones."""
    fleet = config.fleet
    meters = list(fleet.meters)
    if count is None or count >= len(meters):
        chosen = meters
    else:
        if count < 1:
            raise UsageError("--meters must be at least 1")
        queues = [[m for m in meters if m.channel == c.id] for c in fleet.channels]
        chosen_ids: set[str] = set()
        while len(chosen_ids) < count:
            for queue in queues:
                if queue and len(chosen_ids) < count:
                    chosen_ids.add(queue.pop(0).id)
        chosen = [m for m in meters if m.id in chosen_ids]
    used = {m.channel for m in chosen}
    channels = [c for c in fleet.channels if c.id in used]
    sub = fleet.model_copy(update={"meters": chosen, "channels": channels})
    return HeadendConfig(config.path, sub, config.keys)


def demo_plan(config: HeadendConfig, name: str | None) -> ReadingPlan:
    fleet = config.fleet
    if name is None:
        name = "demo" if any(p.name == "demo" for p in fleet.plans) else None
    if name is None:
        if not fleet.plans:
            raise UsageError(f"{config.path}: the fleet file has no [[plans]]")
        return fleet.plans[0]
    try:
        return fleet.plan(name)
    except KeyError:
        raise UsageError(f"{config.path}: no plan {name!r}") from None


async def run_demo(args: argparse.Namespace) -> int:
    config = pick_meters(load_config(args.config), args.meters)
    plan = demo_plan(config, args.plan)
    out = console()
    sim_cfg = config.fleet.simulation
    factor = sim_cfg.factor if sim_cfg else 1.0
    kinds = Counter(_PROTOCOL_NAMES[m.protocol] for m in config.fleet.meters)
    out.print(
        f"[bold]headend demo-read[/]: {len(config.fleet.meters)} simulated meters "
        f"({', '.join(f'{n} {k}' for k, n in kinds.items())}) on "
        f"{len(config.fleet.channels)} channels (clock x{factor:g}), plan {plan.name!r}"
    )
    with out.status("starting the simulated fleet..."):
        fleet_cm = simulated_fleet(config)
        _fleet, served = await fleet_cm.__aenter__()
    try:
        store = await open_url(args.db)
        try:
            service = ReadingService(served, store, contacts=store, counters=store)
            with Progress(
                TextColumn("reading"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[last]}"),
                TimeElapsedColumn(),
                console=out,
                transient=True,
            ) as progress:
                task = progress.add_task("read", total=len(served.fleet.meters), last="")

                def advance(report: MeterReport) -> None:
                    progress.update(task, advance=1, last=report.meter_id)

                report = await service.run(plan, progress=advance)
            total = await store.count_readings()
        finally:
            await store.close()
    finally:
        await fleet_cm.__aexit__(None, None, None)
    if len(report.meters) <= 60:
        out.print(meters_table(report))
    protocols = {m.id: _PROTOCOL_NAMES[m.protocol] for m in config.fleet.meters}
    out.print(protocols_table(report, protocols))
    out.print(summary_table(report, f"demo: plan {plan.name!r}"))
    out.print(f"readings in {shown_url(args.db)}: {total}")
    return 0 if report.count(MeterStatus.FAILED) == 0 else 1


async def run_simulate(args: argparse.Namespace) -> int:
    raise_open_files_limit()  # every connection the head-end opens is a socket here too
    stop = _stop_on_signals()
    if args.feeders is not None and args.meters is None:
        raise UsageError("--feeders lays out a generated fleet: give --meters N as well")
    if args.meters is not None:
        return await _simulate_generated(args, stop)
    if args.config is None:
        raise UsageError("give --config FILE (a fleet file) or --meters N (a generated fleet)")
    config = load_config(args.config)
    out = console()
    async with simulated_fleet(
        config, configured_ports=True, host=args.host, response_delay_s=args.latency_ms / 1000
    ) as (sim, served):
        table = Table(title=f"simulated fleet from {config.path} (Ctrl-C stops)")
        for column in ("meter", "protocol", "channel", "endpoint", "framing", "address", "auth"):
            table.add_column(column)
        for meter in served.fleet.meters:
            channel = served.fleet.channel(meter.channel)
            framing, where, auth = _describe(meter, sim)
            table.add_row(
                meter.id,
                _PROTOCOL_NAMES[meter.protocol],
                channel.id,
                channel.link().describe(),
                framing,
                where,
                auth,
            )
        out.print(table)
        await stop.wait()
    out.print("simulator stopped")
    return 0


def _stop_on_signals() -> asyncio.Event:
    """An event set by Ctrl-C or SIGTERM: the simulator then shuts down cleanly, exit 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def _simulate_generated(args: argparse.Namespace, stop: asyncio.Event) -> int:
    if args.config is not None:
        raise UsageError("--meters generates a fleet: give --write-config FILE, not --config")
    if args.write_config is None:
        raise UsageError("--meters needs --write-config FILE (where the fleet file goes)")
    if args.latency_ms < 0:
        raise UsageError("--latency-ms must be >= 0")
    try:
        shape = FleetShape(
            meters=args.meters,
            concentrators=args.concentrators,
            meters_per_concentrator=args.meters_per_concentrator,
            modbus_gateways=args.modbus_gateways,
            units_per_gateway=args.units_per_gateway,
            dlt645_lines=args.dlt645_lines,
            meters_per_line=args.meters_per_line,
            cipher_share=args.cipher_share,
            seed=args.seed,
            factor=args.factor,
            history=args.history,
            host=args.host,
            gprs_port=args.gprs_port,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
            for e in exc.errors()
        )
        raise UsageError(problems) from None
    grid = _grid_setup(args)
    out = console()
    with out.status(f"generating and starting {shape.meters} simulated meters..."):
        cm = generated_fleet(
            shape,
            Path(args.write_config),
            response_delay_s=args.latency_ms / 1000,
            prebuild=args.prebuild,
            start=args.start,
            grid=grid,
        )
        fleet = await cm.__aenter__()
    try:
        out.print(generated_summary(fleet, args.latency_ms, args.prebuild))
        await stop.wait()
    finally:
        await cm.__aexit__(None, None, None)
    out.print("simulator stopped")
    return 0


def _grid_setup(args: argparse.Namespace) -> GridSetup | None:
    """`--feeders F` and its companions: the grid of the generated fleet (None: no grid)."""
    if args.feeders is None:
        return None
    start: datetime = args.start or datetime.now(UTC)
    try:
        shape = GridShape(
            feeders=args.feeders,
            pv_share=args.pv_share,
            window_start=start.time().replace(second=0, microsecond=0),
            window_end=args.grid_until,
        )
        return GridSetup(
            shape=shape,
            day=start.date(),
            usage_every=timedelta(minutes=args.usage_every),
            profile_every=timedelta(minutes=args.profile_every) if args.profile_every else None,
            lease=timedelta(minutes=args.lease),
            limit_step_w=args.limit_step,
        )
    except ValidationError as exc:
        raise UsageError("; ".join(str(e["msg"]) for e in exc.errors())) from None


def _clock_time(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time of day (HH:MM): {text!r}") from None


def simulated_start(text: str) -> datetime:
    """`--start`: an ISO 8601 time; without a zone it is UTC (the schedules' zone)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def generated_summary(fleet: GeneratedFleet, latency_ms: float, prebuild: bool) -> Table:
    """What `headend simulate --meters N` serves: counts per kind, where, the file written."""
    data = fleet.data
    kinds = counts(data)
    served = fleet.config.fleet
    ciphered = sum(1 for m in data["meters"] if m.get("cipher"))
    table = Table(title=f"generated fleet: {len(data['meters'])} simulated meters (Ctrl-C stops)")
    table.add_column("kind")
    table.add_column("meters", justify="right")
    table.add_column("listening on")
    gprs = [c for c in served.channels if c.id.startswith("gprs-")]
    if gprs:
        first, last = gprs[0], gprs[-1]
        assert isinstance(first, TcpChannel) and isinstance(last, TcpChannel)
        where = f"{first.host} .. {last.host} port {first.port} (one listener on 0.0.0.0)"
        table.add_row("GPRS (DLMS wrapper)", str(kinds["gprs"]), where)
    for label, kind, prefix in (
        ("concentrator (DLMS HDLC)", "hdlc", "dc"),
        ("Modbus RTU gateway", "modbus", "mb"),
        ("DL/T 645 line", "dlt645", "dlt"),
    ):
        channels = [c for c in served.channels if c.id.startswith(prefix)]
        if channels:
            ends = ", ".join(c.link().describe() for c in channels[:3])
            more = f" and {len(channels) - 3} more" if len(channels) > 3 else ""
            table.add_row(f"{label} x{len(channels)}", str(kinds[kind]), ends + more)
    sim = served.simulation
    table.caption = (
        f"fleet file: {fleet.path}   ciphered (HLS-GMAC): {ciphered}   "
        f"latency: {latency_ms:g} ms   clock x{sim.factor if sim else 1:g}, "
        f"history {data['simulation']['history']}   "
        f"meters built {'at start' if prebuild else 'when first dialled'}   "
        f"started in {fleet.start_s:.1f} s"
    )
    return table


_PROTOCOL_NAMES = {"dlms": "DLMS", "modbus": "Modbus", "dlt645": "DL/T 645"}


def _describe(meter: DlmsMeter | ModbusMeter | Dlt645Meter, sim: SimulatedFleet) -> tuple[str, ...]:
    """(framing, address on the channel, authentication) for the `simulate` table."""
    if isinstance(meter, ModbusMeter):
        return (meter.framing or "", f"unit {meter.unit_id} ({meter.model})", "")
    if isinstance(meter, Dlt645Meter):
        return ("", meter.address, "")
    physical = (
        f"physical {sim.physical_address(meter.id)}" if meter.server_physical is not None else ""
    )
    auth = meter.auth.value + (" +cipher" if meter.cipher else "")
    return (meter.framing.value if meter.framing else "", physical, auth)


def add_demo_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo-read",
        help="the reading demo: simulate a mixed fleet on loopback, read it, store it, summarise",
        description=(
            "Start the fleet of the config as simulated meters on free loopback ports: DLMS\n"
            "(wrapper meters and HDLC concentrators, no auth, LLS and HLS-GMAC ciphered, with the\n"
            "demo keys of the config), Modbus units behind TCP/RS-485 gateways and DL/T 645\n"
            "meters on a line; read them with the reading service, store the readings and print\n"
            "a summary per meter and per protocol.\n\n"
            "  headend demo-read --config config/demo.toml --meters 6 --db /tmp/demo.sqlite3"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--config", required=True, metavar="FILE", help="fleet file (TOML)")
    demo.add_argument(
        "--db", default=DEFAULT_DB, metavar="URL", help=f"store URL or SQLite path ({DEFAULT_DB})"
    )
    demo.add_argument(
        "--meters", type=int, metavar="N", help="read only N meters, spread over the channels"
    )
    demo.add_argument("--plan", metavar="NAME", help="reading plan (default: 'demo' or the first)")
    demo.set_defaults(handler=run_demo)

    simulate = commands.add_parser(
        "simulate",
        help="serve the configured fleet, or a generated one, as simulated meters until Ctrl-C",
        description=(
            "Serve every meter of the fleet file (DLMS, Modbus, DL/T 645) on its configured\n"
            "channel (TCP port, or a pseudo-terminal for serial channels) until Ctrl-C; then,\n"
            "from another shell:\n"
            "  headend read --config config/demo.toml gprs-0001 --json\n\n"
            "Or generate a fleet of N meters, write its fleet file once it is served, and serve\n"
            "it until Ctrl-C or SIGTERM: C concentrators of K HDLC meters, G RS-485 gateways of\n"
            "Modbus units, L DL/T 645 lines, and GPRS meters for the rest, each at its own\n"
            "loopback address (127.1.0.1 upward) on one port (4059), behind one listener:\n"
            "  headend simulate --meters 10000 --concentrators 20 --cipher-share 0.2 \\\n"
            "      --latency-ms 20 --write-config /tmp/fleet.toml\n"
            "  headend collect --config /tmp/fleet.toml --plan daily"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    simulate.add_argument("--config", metavar="FILE", help="fleet file (TOML) to serve")
    simulate.add_argument(
        "--host", default="127.0.0.1", help="address to bind, GPRS meters aside (127.0.0.1)"
    )
    simulate.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="every meter answers each request this much later (0)",
    )
    gen = simulate.add_argument_group("a generated fleet")
    gen.add_argument("--meters", type=int, metavar="N", help="generate a fleet of N meters")
    gen.add_argument("--write-config", metavar="FILE", help="where to write its fleet file")
    gen.add_argument("--concentrators", type=int, default=0, metavar="C", help="(0)")
    gen.add_argument("--meters-per-concentrator", type=int, default=100, metavar="K", help="(100)")
    gen.add_argument("--modbus-gateways", type=int, default=0, metavar="G", help="(0)")
    gen.add_argument("--units-per-gateway", type=int, default=16, metavar="U", help="(16)")
    gen.add_argument("--dlt645-lines", type=int, default=0, metavar="L", help="(0)")
    gen.add_argument("--meters-per-line", type=int, default=8, metavar="M", help="(8)")
    gen.add_argument(
        "--cipher-share",
        type=float,
        default=0.0,
        metavar="F",
        help="share of DLMS meters with HLS-GMAC and ciphering, 0..1 (0)",
    )
    gen.add_argument(
        "--gprs-port", type=int, default=4059, metavar="PORT", help="GPRS meters' port (4059)"
    )
    gen.add_argument("--seed", type=int, default=1, help="consumption models' seed (1)")
    gen.add_argument("--factor", type=float, default=60.0, help="simulated clock speed-up (60)")
    gen.add_argument(
        "--start",
        type=simulated_start,
        metavar="ISO",
        help="simulated time when the fleet starts, e.g. 2024-03-01T22:00 (UTC unless a zone "
        "is given; default: now)",
    )
    gen.add_argument(
        "--history",
        default="P1D",
        metavar="ISO",
        help="consumption integrated before a meter is first read, ISO 8601 (P1D: a day of "
        "load profile; costs ~5 ms of CPU per meter)",
    )
    gen.add_argument(
        "--prebuild",
        action="store_true",
        help="integrate every meter's history at start, not when it is first dialled",
    )
    grid = simulate.add_argument_group(
        "a grid (with --meters): households on feeders, each with a meter at its transformer"
    )
    grid.add_argument(
        "--feeders",
        type=int,
        metavar="F",
        help="lay the households out on F feeders: feeder 1 overloaded in the evening, a "
        "demand-response event on feeder 2, a [load] section for the load manager",
    )
    grid.add_argument(
        "--grid-until",
        type=_clock_time,
        default=time(0, 0),
        metavar="HH:MM",
        help="end of the evening the capacities are worked out over, from --start (00:00)",
    )
    grid.add_argument(
        "--pv-share", type=float, default=0.03, metavar="F", help="households with PV (0.03)"
    )
    grid.add_argument(
        "--usage-every",
        type=int,
        default=15,
        metavar="MIN",
        help="the households' usage plan (import and export power), simulated minutes (15)",
    )
    grid.add_argument(
        "--profile-every",
        type=int,
        default=0,
        metavar="MIN",
        help="the load-profile plan, simulated minutes (0: not scheduled)",
    )
    grid.add_argument(
        "--lease", type=int, default=60, metavar="MIN", help="a limit's lease, minutes (60)"
    )
    grid.add_argument(
        "--limit-step", type=int, default=200, metavar="W", help="limits in whole steps of W (200)"
    )
    simulate.set_defaults(handler=run_simulate)
