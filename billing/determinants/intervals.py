"""Determinants from interval data: energy by tariff period (the calendar's label of each
interval) and the maximum 15-minute demand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from operator import itemgetter

ZERO = Decimal(0)
Labels = Callable[[datetime, timedelta, int], list[str]]

_GROUPS: dict[tuple[str, ...], list[tuple[str, Callable[[Sequence[Decimal]], object], int]]] = {}


def label_groups(
    names: Sequence[str],
) -> list[tuple[str, Callable[[Sequence[Decimal]], object], int]]:
    """(period name, getter of its intervals, how many): shared across meters of one period."""
    key = tuple(names)
    found = _GROUPS.get(key)
    if found is not None:
        return found
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(key):
        positions.setdefault(name, []).append(i)
    groups: list[tuple[str, Callable[[Sequence[Decimal]], object], int]] = [
        (name, itemgetter(*where), len(where)) for name, where in positions.items()
    ]
    if len(_GROUPS) > 8:
        _GROUPS.clear()
    _GROUPS[key] = groups
    return groups


def split_by_period(
    kwh: Sequence[Decimal], groups: list[tuple[str, Callable[[Sequence[Decimal]], object], int]]
) -> dict[str, Decimal]:
    result: dict[str, Decimal] = {}
    for name, getter, count in groups:
        picked = getter(kwh)
        if count == 1:
            result[name] = picked  # type: ignore[assignment]
        else:
            result[name] = sum(picked, ZERO)  # type: ignore[call-overload]
    return result


def max_demand(
    kwh: Sequence[Decimal], start: datetime, interval: timedelta
) -> tuple[Decimal, datetime]:
    """Highest average demand over one interval (kW) and the interval's start."""
    peak = max(kwh)
    per_hour = Decimal(3600) / Decimal(int(interval.total_seconds()))
    return peak * per_hour, start + interval * kwh.index(peak)
