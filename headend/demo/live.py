"""The grid demo's live view (rich): per feeder its load against the usable capacity, households
limited and disconnected, the demand-response event's state; the commands in flight and how the
final ones ended; the latest usage run's collection; the simulated time and the progress.

`Tally` listens to the running head-end (the command service's final states, the reading
service's finished runs); `render` draws one frame from it and the daemon's current state.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from headend.commands.model import CommandRecord
from headend.config.load import DemandResponseEvent
from headend.load.manager import REQUESTER
from headend.runs.model import RunStats
from headend.service.daemon import Daemon

BAR_WIDTH = 30


@dataclass
class Tally:
    """What the live view counts as the head-end runs."""

    usage_plan: str
    finals: Counter[str] = field(default_factory=Counter)
    last_usage: RunStats | None = None

    async def on_final(self, record: CommandRecord) -> None:
        if record.requester == REQUESTER:
            self.finals[record.state.value] += 1

    async def on_run(self, stats: RunStats) -> None:
        if stats.plan == self.usage_plan:
            self.last_usage = stats


def event_state(event: DemandResponseEvent, now: datetime) -> str:
    if event.cancelled:
        return f"{event.id} cancelled"
    if now < event.start:
        return f"{event.id} at {event.start:%H:%M}: -{event.reduction_kw:g} kW"
    if now < event.end:
        return (
            f"[bold yellow]{event.id} ACTIVE[/] until {event.end:%H:%M}: -{event.reduction_kw:g} kW"
        )
    return f"{event.id} ended {event.end:%H:%M}"


def _load_bar(load_kw: float | None, usable_kw: float) -> RenderableType:
    if load_kw is None:
        return Text("not read yet", style="dim")
    # the bar's full width is 1.3 x usable capacity, so an overload shows past the 77 % mark
    scale = usable_kw * 1.3
    style = "red" if load_kw > usable_kw else "yellow" if load_kw > 0.9 * usable_kw else "green"
    return ProgressBar(
        total=scale,
        completed=min(max(load_kw, 0.0), scale),
        width=BAR_WIDTH,
        complete_style=style,
        finished_style=style,
    )


def render(daemon: Daemon, tally: Tally, start: datetime, end: datetime) -> RenderableType:
    now = daemon.clock.now()
    load = daemon.load
    feeders = Table(title="feeders (bar: load against 130 % of the usable capacity)")
    for column in ("feeder", "load", "kW / usable", "limited", "disconnected", "demand response"):
        feeders.add_column(column)
    if load is not None:
        for feeder in load.settings.feeders:
            decision = load.last.get(feeder.id)
            cycle = decision.cycle if decision is not None else None
            load_kw = cycle.load_kw if cycle is not None else None
            events = [e for e in load.settings.demand_response if e.feeder == feeder.id]
            feeders.add_row(
                feeder.id,
                _load_bar(load_kw, feeder.usable_kw),
                f"{'-' if load_kw is None else f'{load_kw:,.0f}'} / {feeder.usable_kw:,.0f}",
                str(cycle.limited) if cycle else "-",
                str(cycle.disconnected) if cycle else "-",
                "; ".join(event_state(e, now) for e in events) or "",
            )
    finals = tally.finals
    commands = Text.from_markup(
        f"commands: [bold]{daemon.commands.in_flight()}[/] in flight, "
        f"[green]{finals['confirmed']}[/] confirmed, {finals['armed']} armed, "
        f"[red]{finals['failed']}[/] failed, {finals['expired']} expired"
    )
    usage = tally.last_usage
    if usage is None:
        collected = "usage collection: waiting for the first run"
    else:
        rate = f" ({usage.collected / usage.attempted:.1%})" if usage.attempted else ""
        collected = (
            f"usage collection (run of {usage.scheduled_for or now:%H:%M}): "
            f"{usage.collected:,} of {usage.attempted:,} meters read{rate}"
        )
    span = (end - start).total_seconds()
    done = min(max((now - start).total_seconds(), 0.0), span)
    clock = Table.grid(padding=(0, 1))
    clock.add_row(
        Text(f"simulated {now:%H:%M} UTC (x{daemon.clock.factor:g})"),
        ProgressBar(total=span, completed=done, width=BAR_WIDTH),
        Text(f"{start:%H:%M} -> {end:%H:%M}"),
    )
    return Group(clock, feeders, commands, Text(collected))
