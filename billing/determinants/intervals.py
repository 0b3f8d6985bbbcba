"""Determinants from interval data: energy by tariff period (the calendar's label of each
interval) and the maximum 15-minute demand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from headend.store.scaled_ints import ScaledInts

ZERO = Decimal(0)
Labels = Callable[[datetime, timedelta, int], list[str]]
Runs = tuple[tuple[str, ...], tuple[tuple[str, int, int], ...]]

# the last labels seen (a fleet shares one period's labels): the list object, its runs
_LAST: list[tuple[Sequence[str], tuple[str, ...], Runs]] = []


def label_runs(names: Sequence[str]) -> Runs:
    """(period names in first-seen order, runs (name, first, stop) of equal labels)."""
    if _LAST:
        seen, key, known = _LAST[0]
        if seen is names or key == tuple(names):
            return known
    order: dict[str, None] = {}
    found: list[tuple[str, int, int]] = []
    first = 0
    for i in range(1, len(names) + 1):
        if i == len(names) or names[i] != names[first]:
            order.setdefault(names[first], None)
            found.append((names[first], first, i))
            first = i
    runs: Runs = (tuple(order), tuple(found))
    _LAST[:] = [(names, tuple(names), runs)]
    return runs


def split_by_period(cumulative: Sequence[Decimal], runs: Runs) -> dict[str, Decimal]:
    """Energy per period name from running totals at the grid points (see SeriesResult)."""
    names, spans = runs
    if isinstance(cumulative, ScaledInts):  # whole numbers: sum as integers, one Decimal a name
        ints = cumulative.ints.tolist()
        sums = dict.fromkeys(names, 0)
        for name, first, stop in spans:
            sums[name] += ints[stop] - ints[first]
        return {name: Decimal(total).scaleb(cumulative.exponent) for name, total in sums.items()}
    result = dict.fromkeys(names, ZERO)
    for name, first, stop in spans:
        result[name] += cumulative[stop] - cumulative[first]
    return result


def max_demand(
    kwh: Sequence[Decimal], peak: Decimal, start: datetime, interval: timedelta
) -> tuple[Decimal, datetime]:
    """Highest average demand over one interval (kW) and the first interval that reached it."""
    per_hour = Decimal(3600) / Decimal(int(interval.total_seconds()))
    return peak * per_hour, start + interval * kwh.index(peak)
