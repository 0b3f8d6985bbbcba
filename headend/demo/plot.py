"""The grid demo's plot (PNG, matplotlib's Agg backend: no display needed): one panel per feeder
with the load measured at its feeder meter, the unmanaged load (the same households without load
management), the usable capacity and the demand-response window and target; then one panel of
the limits over time (households limited, and the sum of their limits)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: a file, never a window

import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from headend.config.load import LoadSettings
from headend.load.metrics import LoadCycle


def write_plot(
    path: Path,
    settings: LoadSettings,
    cycles: Sequence[LoadCycle],
    unmanaged: Mapping[str, Sequence[float]],
    times: Mapping[str, Sequence[datetime]],
    title: str,
) -> Path:
    """`unmanaged[feeder][i]` is the unmanaged load at `times[feeder][i]`."""
    by_feeder: dict[str, list[LoadCycle]] = defaultdict(list)
    for cycle in cycles:
        by_feeder[cycle.feeder].append(cycle)
    feeders = settings.feeders
    fig, axes = plt.subplots(
        len(feeders) + 1, 1, figsize=(11, 2.6 * (len(feeders) + 1)), sharex=True, squeeze=False
    )
    for ax, feeder in zip(axes[:-1, 0], feeders, strict=True):
        own = by_feeder.get(feeder.id, [])
        measured = [(c.at, c.load_kw) for c in own if c.load_kw is not None]
        ax.plot(
            times.get(feeder.id, []),
            unmanaged.get(feeder.id, []),
            color="tab:gray",
            linestyle="--",
            label="without load management",
        )
        if measured:
            ax.plot(*zip(*measured, strict=True), color="tab:blue", label="measured at feeder")
        ax.axhline(feeder.usable_kw, color="tab:red", linewidth=1, label="usable capacity")
        for event in settings.demand_response:
            if event.feeder != feeder.id or event.cancelled:
                continue
            ax.axvspan(event.start, event.end, color="tab:orange", alpha=0.12)
            window = [
                (t, v - event.reduction_kw)
                for t, v in zip(times.get(feeder.id, []), unmanaged.get(feeder.id, []), strict=True)
                if event.start <= t < event.end
            ]
            if window:
                ax.plot(
                    *zip(*window, strict=True),
                    color="tab:orange",
                    linestyle=":",
                    label=f"DR target ({event.reduction_kw:g} kW less)",
                )
        ax.set_ylabel("kW")
        ax.set_title(f"{feeder.id}: {len(feeder.households):,} households", fontsize=10)
        ax.legend(loc="upper left", fontsize=7)
        ax.grid(alpha=0.3)
    ax = axes[-1, 0]
    totals: dict[datetime, tuple[int, float]] = {}
    for cycle in cycles:
        limited, kw = totals.get(cycle.at, (0, 0.0))
        totals[cycle.at] = (limited + cycle.limited, kw + cycle.limit_kw_total)
    at = sorted(totals)
    ax.step(at, [totals[t][0] for t in at], where="post", color="tab:purple")
    ax.set_ylabel("households limited", color="tab:purple")
    ax.grid(alpha=0.3)
    twin = ax.twinx()
    twin.step(at, [totals[t][1] for t in at], where="post", color="tab:green")
    twin.set_ylabel("sum of limits (kW)", color="tab:green")
    ax.set_title("limits in force (all feeders)", fontsize=10)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))  # type: ignore[no-untyped-call]
    ax.set_xlabel("simulated time (UTC)")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
