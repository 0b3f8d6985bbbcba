"""Running the grid demo: the simulator in a child process (`headend simulate` of the generated
grid fleet, so the meters and the head-end each have a core), the head-end (`headend run`'s
Daemon) in this one on the simulator's clock, from the evening's start to its end; then both are
stopped and the summary, its JSON and the plot are made from the site database.

The simulator writes its fleet file only once every meter answers (headend.simulation.generated),
so the file appearing is the signal to start. Its output and the head-end's log go to files in
the output directory, so the terminal holds only the live view.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.live import Live

from headend.cli.database import check_url, open_url, shown_url
from headend.cli.usage import UsageError
from headend.config import HeadendConfig, load_config
from headend.demo.live import Tally, render
from headend.demo.plot import write_plot
from headend.demo.scenario import DemoOptions
from headend.demo.summary import (
    DemoSummary,
    collection,
    command_counts,
    feeder_summaries,
)
from headend.demo.unmanaged import unmanaged_kw
from headend.service.clock import clock_for
from headend.service.daemon import Daemon, scheduler_database
from headend.simulation.generated import USAGE_PLAN
from headend.store.base import Store

LOG = logging.getLogger(__name__)
SIMULATOR_START_S = 600.0  # a hang guard: 10,000 meters start in well under a minute
SIMULATOR_STOP_S = 30.0
REFRESH_S = 0.5
# Commands waiting for a shared channel (a concentrator's, a gateway's) hold their slot: with the
# default 64, the first feeder-wide burst of limits queues the GPRS meters behind them.
COMMAND_SLOTS = 1000


class DemoFailed(Exception):
    """The demo could not run (the simulator did not start, say)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        return int(probe.getsockname()[1])


def _fresh_sqlite(url: str) -> None:
    """Remove a SQLite site database (and its scheduler's) so the run starts empty; a server
    database is left as it is."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.split("+", 1)[0] != "sqlite":
        return
    path = Path(rest.removeprefix("/") if sep else url)
    for base in (path, Path(scheduler_database(url))):
        for suffix in ("", "-wal", "-shm", "-journal"):
            base.with_name(base.name + suffix).unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """The head-end's log goes to `path` while the demo runs (INFO for the service's lines)."""
    root = logging.getLogger()
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    saved = root.handlers[:]
    levels = {n: logging.getLogger(n).level for n in ("headend", "drivers")}
    for old in saved:
        root.removeHandler(old)
    root.addHandler(handler)
    logging.getLogger("headend").setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        for old in saved:
            root.addHandler(old)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


async def _start_simulator(
    options: DemoOptions, fleet_file: Path, log_file: Path
) -> tuple[asyncio.subprocess.Process, HeadendConfig]:
    await asyncio.to_thread(fleet_file.unlink, missing_ok=True)
    with open(log_file, "wb") as log:  # noqa: ASYNC230 (opening a local file is instant)
        child = await asyncio.create_subprocess_exec(
            *options.simulator_command(fleet_file, free_port()),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the demo, which stops the simulator itself
        )
    deadline = time.monotonic() + SIMULATOR_START_S
    while not await asyncio.to_thread(fleet_file.exists):
        if child.returncode is not None:
            text = await asyncio.to_thread(log_file.read_text, encoding="utf-8", errors="replace")
            tail = text[-2000:]
            raise DemoFailed(f"the simulator exited ({child.returncode}):\n{tail}")
        if time.monotonic() > deadline:
            await _stop_simulator(child)
            raise DemoFailed(f"the simulator did not write {fleet_file} in time")
        await asyncio.sleep(0.2)
    config = await asyncio.to_thread(load_config, fleet_file)
    return child, config


async def _stop_simulator(child: asyncio.subprocess.Process) -> None:
    if child.returncode is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(child.wait(), SIMULATOR_STOP_S)
    except TimeoutError:
        child.kill()
        await child.wait()


def _demo_config(config: HeadendConfig, out: Path) -> HeadendConfig:
    """The served fleet with the service's socket in the output directory, a short grace, and
    room for many commands at once (most meters sit on channels of their own)."""
    fleet = config.fleet
    commands = fleet.service.commands.model_copy(update={"max_meters": COMMAND_SLOTS})
    service = fleet.service.model_copy(
        update={
            "control_socket": str(out / "headend.sock"),
            "shutdown_grace_s": 5.0,
            "commands": commands,
        }
    )
    return HeadendConfig(config.path, fleet.model_copy(update={"service": service}), config.keys)


async def run_grid_demo(options: DemoOptions, console: Console) -> DemoSummary:
    """Run the demo; returns its summary (also written as JSON, with the plot, to `out`)."""
    url = check_url(options.db)
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    _fresh_sqlite(url)
    console.print(
        f"[bold]headend demo[/]: {options.households:,} simulated households on "
        f"{options.feeders} feeders, {options.start_at:%H:%M}-{options.end_at:%H:%M} UTC "
        f"simulated at x{options.factor:.3g} (about {options.minutes:g} min)"
    )
    with _log_to(out / "headend.log"):
        with console.status("generating and starting the simulated grid (a child process)..."):
            child, served = await _start_simulator(
                options, out / "fleet.toml", out / "simulator.log"
            )
        try:
            config = _demo_config(served, out)
            store = await open_url(url)
            try:
                real_s = await _evening(options, config, store, console)
                with console.status("summarising..."):
                    summary = await _summarise(options, config, store, url, real_s)
            finally:
                await store.close()
        finally:
            await _stop_simulator(child)
    return summary


async def _evening(
    options: DemoOptions, config: HeadendConfig, store: Store, console: Console
) -> float:
    """The head-end from now to the evening's end (or Ctrl-C); returns the real seconds."""
    clock = clock_for(config.fleet)
    daemon = Daemon(config, store, clock, database_url=options.db)
    tally = Tally(USAGE_PLAN)
    daemon.commands.on_final.append(tally.on_final)
    daemon.service.on_run.append(tally.on_run)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, stop.set)
    started = time.monotonic()
    await daemon.start()
    try:
        # the load manager needs the households' usage: a first run now, then on schedule
        daemon.spawn(daemon.fire(USAGE_PLAN), "first usage run")
        live = options.live and console.is_terminal
        frame = Live(console=console, refresh_per_second=4, transient=False) if live else None
        with frame or contextlib.nullcontext():
            while clock.now() < options.end_at and not stop.is_set():
                if frame is not None:
                    frame.update(render(daemon, tally, options.start_at, options.end_at))
                left_s = (options.end_at - clock.now()).total_seconds() / clock.factor
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, min(REFRESH_S, left_s)))
            if frame is not None:
                frame.update(render(daemon, tally, options.start_at, options.end_at))
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        with console.status("stopping the head-end..."):
            await daemon.stop()
    return time.monotonic() - started


def _grid(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    count = int((end - start) / step)
    return [start + k * step for k in range(count + 1)]


async def _summarise(
    options: DemoOptions, config: HeadendConfig, store: Store, url: str, real_s: float
) -> DemoSummary:
    fleet = config.fleet
    if fleet.load is None:
        raise UsageError(f"{config.path}: the fleet has no [load] section")
    cycles = await store.load_cycles()
    commands = await store.commands()
    runs = await store.runs(plan=USAGE_PLAN)
    readings = await store.count_readings()
    times = _grid(options.start_at, options.end_at, fleet.load.cycle)
    curves = {f: list(map(float, v)) for f, v in unmanaged_kw(fleet, times).items()}
    summary = DemoSummary(
        households=options.households,
        start=options.start_at,
        end=options.end_at,
        clock_factor=round(options.factor, 3),
        real_s=round(real_s, 1),
        feeders=feeder_summaries(fleet, cycles, {f: v[:-1] for f, v in curves.items()}),
        commands=command_counts(commands),
        collection=collection(USAGE_PLAN, runs),
        cycles=len(cycles),
        readings=readings,
        database=shown_url(url),
    )
    title = (
        f"{options.households:,} households, {options.start_at:%Y-%m-%d %H:%M}-"
        f"{options.end_at:%H:%M} UTC (simulated), load managed every "
        f"{fleet.load.cycle.total_seconds() / 60:g} min"
    )
    plot = await asyncio.to_thread(
        write_plot,
        options.out / "grid-demo.png",
        fleet.load,
        cycles,
        curves,
        dict.fromkeys(curves, times),
        title,
    )
    summary = summary.model_copy(update={"plot": str(plot)})
    (options.out / "summary.json").write_text(
        summary.model_dump_json(indent=2) + "\n", encoding="utf-8"
    )
    return summary
