"""Why a feeder's control cycle did what it did, in the words the audit trail and the log keep:
the source and reason of a household's limit, the notice of an infeasible feeder, and the
cycle's one-line report. Pure functions."""

from __future__ import annotations

import math
from collections.abc import Mapping

from headend.load.allocation import Allocation, Household
from headend.load.demand_response import Reduction


def limit_reason(
    feeder_id: str,
    household: Household,
    allocation: Allocation,
    reduction: Reduction | None,
    baseline_kw: float,
    forecast_kw: float,
) -> tuple[str, str]:
    """(source, reason) of the limit `allocation` gives `household`."""
    share = allocation.allocated_kw[household.id]
    dr_capped = reduction is not None and household.maximum_kw < household.demand_kw
    if reduction is not None and dr_capped and share >= household.maximum_kw - 1e-9:
        names = ",".join(reduction.events)
        return (
            f"demand-response:{names}",
            f"demand response {names}: {reduction.kw:.2f} kW below a baseline of "
            f"{baseline_kw:.2f} kW",
        )
    if forecast_kw > allocation.usable_kw:
        return (
            "allocation",
            f"feeder {feeder_id} forecast {forecast_kw:.1f} kW over usable "
            f"{allocation.usable_kw:.1f} kW: fair share {share:.2f} kW",
        )
    if share < household.demand_kw:
        return "allocation", f"above the contractual maximum {household.maximum_kw:.2f} kW"
    return (
        "allocation",
        f"feeder {feeder_id} forecast {forecast_kw:.1f} kW within usable "
        f"{allocation.usable_kw:.1f} kW: limit eased off slowly",
    )


def infeasibility(
    feeder_id: str, allocation: Allocation, households: list[Household]
) -> str | None:
    """Why the guaranteed minimums and protected households do not fit, or None when they do."""
    if allocation.shortfall_kw <= 1e-9:
        return None
    protected = math.fsum(h.demand_kw for h in households if h.priority)
    floors = math.fsum(h.floor_kw for h in households if not h.priority and h.has_limiter)
    return (
        f"infeasible: on feeder {feeder_id} the guaranteed minimums ({floors:.1f} kW) "
        f"and protected households ({protected:.1f} kW) exceed the usable "
        f"{allocation.usable_kw:.1f} kW by {allocation.shortfall_kw:.1f} kW even with every "
        "household without limiter disconnected; limitable households are held at their "
        "minimums, protected ones are not limited"
    )


def cycle_report(
    feeder_id: str,
    feeder_meter: str,
    load_kw: float | None,
    usable_kw: float,
    forecast_kw: float,
    limited: int,
    counts: Mapping[str, int],
    cut: int,
    restored: int,
    still_disconnected: int,
    infeasible: str | None,
) -> str:
    """The cycle's line in the log and its record."""
    shown = (
        f"not read (meter {feeder_meter}; households' use as read)"
        if load_kw is None
        else f"{load_kw:.1f} kW"
    )
    parts = [
        f"feeder {feeder_id}: load {shown} of {usable_kw:.1f} kW usable, "
        f"forecast {forecast_kw:.1f} kW",
        f"{limited} limited ({counts.get('limit', 0)} set, "
        f"{counts.get('release', 0)} released, {counts.get('renew', 0)} renewed)",
    ]
    if cut:
        parts.append(f"disconnected {cut} households without limiter as last resort")
    if restored:
        parts.append(f"reconnected {restored} households")
    if still_disconnected and not cut:
        parts.append(f"{still_disconnected} still disconnected")
    if infeasible is not None:
        parts.append(infeasible)
    return "; ".join(parts)
