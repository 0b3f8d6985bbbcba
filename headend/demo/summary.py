"""The grid demo's summary: per feeder and overall, from what the site database holds (the load
manager's cycle records, the commands, the usage runs) and the unmanaged curve (the same
households without load management), as a table and as JSON.

"Before" is the unmanaged load, "after" the load measured at the feeder meter, both at the
control cycles' instants: the measured peak includes the cycle that first saw an overload, before
any limit was sent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from rich.table import Table

from headend.commands.model import CommandRecord
from headend.config.fleet import Fleet
from headend.load.manager import REQUESTER
from headend.load.metrics import LoadCycle
from headend.runs.model import RunStats

SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class FeederSummary(_Model):
    feeder: str
    households: int
    usable_kw: float = Field(description="capacity less the safety margin")
    peak_unmanaged_kw: float
    peak_measured_kw: float | None
    overload_min_unmanaged: float = Field(description="cycle intervals above usable, unmanaged")
    overload_min_measured: float = Field(description="overload time the load manager measured")
    served_kwh: float
    demanded_kwh: float
    fairness: float | None = Field(description="Jain's index of curtailment, mean over cycles")
    most_limited: int = Field(description="most households limited at once")
    most_disconnected: int
    demand_response: str | None = Field(default=None, description="the event on this feeder")

    @property
    def served_share(self) -> float | None:
        return self.served_kwh / self.demanded_kwh if self.demanded_kwh > 0 else None


class CommandCounts(_Model):
    sent: int = 0
    confirmed: int = 0
    armed: int = 0
    failed: int = 0
    expired: int = 0
    open: int = 0


class Collection(_Model):
    plan: str
    runs: int
    attempted: int
    collected: int

    @property
    def rate(self) -> float | None:
        return self.collected / self.attempted if self.attempted else None


class DemoSummary(_Model):
    schema_version: int = SCHEMA_VERSION
    households: int
    start: datetime
    end: datetime
    clock_factor: float
    real_s: float = Field(description="wall-clock duration of the simulated evening")
    feeders: list[FeederSummary]
    commands: dict[str, CommandCounts] = Field(description="the load manager's, by action")
    collection: Collection
    cycles: int
    readings: int
    database: str
    plot: str | None = None


def feeder_summaries(
    fleet: Fleet,
    cycles: Sequence[LoadCycle],
    unmanaged: Mapping[str, Sequence[float]],
) -> list[FeederSummary]:
    """`unmanaged[feeder]`: the unmanaged load at each cycle boundary of the evening."""
    assert fleet.load is not None
    by_feeder: dict[str, list[LoadCycle]] = defaultdict(list)
    for cycle in cycles:
        by_feeder[cycle.feeder].append(cycle)
    step = fleet.load.cycle
    out: list[FeederSummary] = []
    for feeder in fleet.load.feeders:
        own = by_feeder.get(feeder.id, [])
        curve = list(unmanaged.get(feeder.id, []))
        usable = feeder.usable_kw
        measured = [c.load_kw for c in own if c.load_kw is not None]
        fairness = [c.fairness for c in own if c.fairness is not None]
        events = [e.id for e in fleet.load.demand_response if e.feeder == feeder.id]
        over = sum(1 for value in curve if value > usable)
        out.append(
            FeederSummary(
                feeder=feeder.id,
                households=len(feeder.households),
                usable_kw=round(usable, 1),
                peak_unmanaged_kw=round(max(curve, default=0.0), 1),
                peak_measured_kw=round(max(measured), 1) if measured else None,
                overload_min_unmanaged=over * step / timedelta(minutes=1),
                overload_min_measured=round(sum(c.overload_s for c in own) / 60, 1),
                served_kwh=round(sum(c.served_kwh for c in own), 1),
                demanded_kwh=round(sum(c.demanded_kwh for c in own), 1),
                fairness=round(sum(fairness) / len(fairness), 3) if fairness else None,
                most_limited=max((c.limited for c in own), default=0),
                most_disconnected=max((c.disconnected for c in own), default=0),
                demand_response=", ".join(events) or None,
            )
        )
    return out


def command_counts(commands: Sequence[CommandRecord]) -> dict[str, CommandCounts]:
    """The load manager's commands by action: how many sent and how each ended."""
    tally: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for command in commands:
        if command.requester != REQUESTER or command.meter is None:
            continue
        counts = tally[str(command.action)]
        counts["sent"] += 1
        state = command.state
        counts[state.value if state.final else "open"] += 1
    return {action: CommandCounts(**counts) for action, counts in sorted(tally.items())}


def collection(plan: str, runs: Sequence[RunStats]) -> Collection:
    own = [r for r in runs if r.plan == plan]
    return Collection(
        plan=plan,
        runs=len(own),
        attempted=sum(r.attempted for r in own),
        collected=sum(r.collected for r in own),
    )


def _kw(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def summary_tables(summary: DemoSummary) -> list[Table]:
    """The per-feeder table and the overall one."""
    feeders = Table(
        title=f"grid demo: {summary.households:,} households, "
        f"{summary.start:%H:%M}-{summary.end:%H:%M} UTC simulated (x{summary.clock_factor:g}) "
        f"in {summary.real_s / 60:.1f} min"
    )
    for column, justify in (
        ("feeder", "left"),
        ("households", "right"),
        ("usable kW", "right"),
        ("peak before kW", "right"),
        ("peak after kW", "right"),
        ("overload min before", "right"),
        ("overload min after", "right"),
        ("served / demanded kWh", "right"),
        ("fairness", "right"),
        ("most limited", "right"),
        ("DR", "left"),
    ):
        feeders.add_column(column, justify=justify)  # type: ignore[arg-type]
    for f in summary.feeders:
        feeders.add_row(
            f.feeder,
            f"{f.households:,}",
            _kw(f.usable_kw),
            _kw(f.peak_unmanaged_kw),
            _kw(f.peak_measured_kw),
            f"{f.overload_min_unmanaged:g}",
            f"{f.overload_min_measured:g}",
            f"{f.served_kwh:,.0f} / {f.demanded_kwh:,.0f} ({_share(f.served_share)})",
            "-" if f.fairness is None else f"{f.fairness:.3f}",
            str(f.most_limited),
            f.demand_response or "",
        )
    overall = Table(title="overall")
    overall.add_column("what")
    overall.add_column("value", justify="right")
    for action, counts in summary.commands.items():
        overall.add_row(
            f"commands: {action}",
            f"{counts.sent} sent, {counts.confirmed} confirmed, {counts.failed} failed, "
            f"{counts.expired} expired" + (f", {counts.open} open" if counts.open else ""),
        )
    if not summary.commands:
        overall.add_row("commands", "none")
    c = summary.collection
    overall.add_row(
        f"collection ({c.plan} plan)",
        f"{_share(c.rate)} ({c.collected:,} of {c.attempted:,} in {c.runs} runs)",
    )
    overall.add_row("load cycles stored", f"{summary.cycles:,}")
    overall.add_row("readings stored", f"{summary.readings:,}")
    overall.add_row("database", summary.database)
    if summary.plot:
        overall.add_row("plot", summary.plot)
    return [feeders, overall]
