"""`headend demo` and `headend simulate`: the configured fleet as simulated meters (DLMS/COSEM,
Modbus and DL/T 645, as declared in the fleet file).

`demo` starts the simulated fleet on free loopback ports, reads it through the fleet config with
the reading service, stores the readings in SQLite and prints a summary. `simulate` serves the
fleet on the configured ports until Ctrl-C, for `headend read --config` from another shell.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections import Counter

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from headend.cli.output import console, meters_table, protocols_table, summary_table
from headend.cli.read import UsageError
from headend.config import HeadendConfig, ReadingPlan, load_config
from headend.config.fleet import DlmsMeter, Dlt645Meter, ModbusMeter
from headend.reading import MeterReport, MeterStatus, ReadingService
from headend.simulation import simulated_fleet
from headend.simulation.fleet import SimulatedFleet
from headend.store import SqliteStore

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
        f"[bold]headend demo[/]: {len(config.fleet.meters)} simulated meters "
        f"({', '.join(f'{n} {k}' for k, n in kinds.items())}) on "
        f"{len(config.fleet.channels)} channels (clock x{factor:g}), plan {plan.name!r}"
    )
    with out.status("starting the simulated fleet..."):
        fleet_cm = simulated_fleet(config)
        _fleet, served = await fleet_cm.__aenter__()
    try:
        async with await SqliteStore.open(args.db) as store:
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
        await fleet_cm.__aexit__(None, None, None)
    if len(report.meters) <= 60:
        out.print(meters_table(report))
    protocols = {m.id: _PROTOCOL_NAMES[m.protocol] for m in config.fleet.meters}
    out.print(protocols_table(report, protocols))
    out.print(summary_table(report, f"demo: plan {plan.name!r}"))
    out.print(f"readings in {args.db}: {total}")
    return 0 if report.count(MeterStatus.FAILED) == 0 else 1


async def run_simulate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = console()
    async with simulated_fleet(config, configured_ports=True, host=args.host) as (sim, served):
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
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    out.print("simulator stopped")
    return 0


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
        "demo",
        help="simulate a mixed fleet on loopback, read it, store to SQLite, print a summary",
        description=(
            "Start the fleet of the config as simulated meters on free loopback ports: DLMS\n"
            "(wrapper meters and HDLC concentrators, no auth, LLS and HLS-GMAC ciphered, with the\n"
            "demo keys of the config), Modbus units behind TCP/RS-485 gateways and DL/T 645\n"
            "meters on a line; read them with the reading service, store the readings and print\n"
            "a summary per meter and per protocol.\n\n"
            "  headend demo --config config/demo.toml --meters 6 --db /tmp/demo.sqlite3"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--config", required=True, metavar="FILE", help="fleet file (TOML)")
    demo.add_argument("--db", default=DEFAULT_DB, metavar="PATH", help=f"SQLite ({DEFAULT_DB})")
    demo.add_argument(
        "--meters", type=int, metavar="N", help="read only N meters, spread over the channels"
    )
    demo.add_argument("--plan", metavar="NAME", help="reading plan (default: 'demo' or the first)")
    demo.set_defaults(handler=run_demo)

    simulate = commands.add_parser(
        "simulate",
        help="serve the configured fleet as simulated meters until Ctrl-C",
        description=(
            "Serve every meter of the fleet file (DLMS, Modbus, DL/T 645) on its configured\n"
            "channel (TCP port, or a pseudo-terminal for serial channels) until Ctrl-C; then,\n"
            "from another shell:\n"
            "  headend read --config config/demo.toml gprs-0001 --json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    simulate.add_argument("--config", required=True, metavar="FILE", help="fleet file (TOML)")
    simulate.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    simulate.set_defaults(handler=run_simulate)
