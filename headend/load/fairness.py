"""Fairness metrics for the load manager's cycle reports."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from headend.load.allocation import Allocation, Household


def jain_index(values: Iterable[float]) -> float:
    """Jain's fairness index (sum x)^2 / (n * sum x^2): 1 when all equal, 1/n when one takes all.

    An empty or all-zero input is perfectly fair (1.0)."""
    xs = list(values)
    squares = math.fsum(x * x for x in xs)
    if not xs or squares == 0:
        return 1.0
    return math.fsum(xs) ** 2 / (len(xs) * squares)


def served_ratios(allocation: Allocation, households: Sequence[Household]) -> list[float]:
    """Allocated over demanded for each non-priority household with a demand: the curtailment
    ratios whose Jain index measures how evenly a cut is shared."""
    return [
        allocation.allocated_kw[h.id] / h.demand_kw
        for h in households
        if not h.priority and h.demand_kw > 0
    ]


def curtailment_fairness(
    households: Sequence[Household], wanted_kw: Mapping[str, float], limits_w: Mapping[str, int]
) -> float | None:
    """Jain's index of served over wanted (limit over demand, 1 where unlimited) across the
    households a limit could reach (limiter, not protected, wanting something); None when
    nothing is limited: there is no curtailment to be fair about."""
    if not limits_w:
        return None
    ratios = [
        min(1.0, limits_w[h.id] / 1000 / wanted_kw[h.id]) if h.id in limits_w else 1.0
        for h in households
        if h.has_limiter and not h.priority and wanted_kw[h.id] > 0
    ]
    return jain_index(ratios)
