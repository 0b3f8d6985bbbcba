"""Estimation of missing intervals: linear interpolation of short gaps, the average of matching
past days (same weekday type, same local slot) for long ones, zero use during a power outage.

When the register is known on both sides of a gap the estimates are spread over its advance by
rounding the running total (never each share), so they sum to the advance exactly, none is
negative, and the last interval takes the remainder of the rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from billing.vee.captures import ZERO, Gap, Work
from billing.vee.grid import Grid
from billing.vee.model import (
    RULE_GAP,
    RULE_HISTORY,
    RULE_INTERPOLATE,
    RULE_NEGATIVE,
    RULE_OUTAGE,
    Flag,
)
from billing.vee.register import Register
from billing.vee.settings import VeeSettings

ONE = Decimal(1)


def spread(total: Decimal, weights: Sequence[Decimal], quantum: Decimal) -> list[Decimal]:
    """`total` (>= 0) shared in proportion to `weights`; the parts sum to `total` exactly.

    Each running total is rounded to `quantum` and kept between the previous one and `total`,
    so every part is >= 0; the last running total is `total` itself. Weights summing to zero
    share evenly.
    """
    whole = sum(weights, ZERO)
    if whole <= ZERO:
        weights = [ONE] * len(weights)
        whole = Decimal(len(weights))
    parts: list[Decimal] = []
    running_weight = ZERO
    previous = ZERO
    last = len(weights) - 1
    for i, weight in enumerate(weights):
        running_weight += weight
        if i == last:
            target = total
        else:
            target = (total * running_weight / whole).quantize(quantum, ROUND_HALF_EVEN)
            target = min(max(target, previous), total)
        parts.append(target - previous)
        previous = target
    return parts


class TypicalUse:
    """Average interval use by (weekend?, local slot): from the history's captures, falling back
    to the period's own measured intervals for a slot the history lacks."""

    def __init__(self, grid: Grid, history: Register, work: Work) -> None:
        sums: dict[tuple[bool, int], list[Decimal]] = {}
        interval = grid.interval
        nonzero_total, nonzero_count = ZERO, 0
        times, values, flagged = history.times, history.values, history.flagged
        for t0, t1, v0, v1 in zip(times, times[1:], values, values[1:], strict=False):
            step = v1 - v0
            if t1 - t0 == interval and step >= ZERO and t0 not in flagged and t1 not in flagged:
                k = grid.position(t0)
                if k is not None:
                    _add(sums, grid.slot_key(k), step)
                    if step > ZERO:
                        nonzero_total += step
                        nonzero_count += 1
        self.from_history = bool(sums)
        # the mean of the history's non-zero intervals: typical use for the spike rule
        self.history_mean_nonzero = nonzero_total / nonzero_count if nonzero_count else None
        own: dict[tuple[bool, int], list[Decimal]] = {}
        for k, value in enumerate(work.raw):
            if value is not None and value >= ZERO and work.flags[k] is Flag.ACTUAL:
                _add(own, grid.slot_key(k), value)
        self._history = {key: total / count for key, (total, count) in sums.items()}
        self._own = {key: total / count for key, (total, count) in own.items()}
        measured = [entry for entry in own.values()]
        # the last resort for a slot neither the history nor the period has: the period's mean
        self._overall = (
            sum((e[0] for e in measured), ZERO) / sum((e[1] for e in measured), ZERO)
            if measured
            else None
        )
        self._grid = grid

    def at(self, k: int) -> Decimal | None:
        key = self._grid.slot_key(k)
        found = self._history.get(key)
        if found is None:
            found = self._own.get(key, self._overall)
        return found


def _add(
    table: dict[tuple[bool, int], list[Decimal]], key: tuple[bool, int], value: Decimal
) -> None:
    entry = table.get(key)
    if entry is None:
        table[key] = [value, ONE]
    else:
        entry[0] += value
        entry[1] += ONE


def _in_outage(
    start: datetime, end: datetime, outages: Sequence[tuple[datetime, datetime]]
) -> bool:
    return any(down <= start and end <= up for down, up in outages)


def fill_gaps(
    work: Work,
    grid: Grid,
    settings: VeeSettings,
    meter_id: str,
    obis: str,
    outages: Sequence[tuple[datetime, datetime]],
    typical: TypicalUse | None,
) -> Decimal:
    """Estimate every gap of `work` in place; returns the energy estimated inside the period."""
    estimated = ZERO
    for gap in work.gaps:
        estimated += _fill(work, grid, settings, meter_id, obis, outages, typical, gap)
    return estimated


def _fill(
    work: Work,
    grid: Grid,
    settings: VeeSettings,
    meter_id: str,
    obis: str,
    outages: Sequence[tuple[datetime, datetime]],
    typical: TypicalUse | None,
    gap: Gap,
) -> Decimal:
    count = grid.count
    at = grid.start
    step = grid.interval
    span = range(gap.first, gap.stop)
    inside = [g for g in span if 0 <= g < count]
    if not inside:
        return ZERO

    def note(rule: str, flag: Flag, intervals: Sequence[int], detail: str) -> None:
        """A finding over `intervals` (in order), from the first's start to the last's end."""
        first, stop = intervals[0], intervals[-1] + 1
        work.findings.append(grid.finding(meter_id, obis, rule, first, stop, flag, detail))

    t0, t1 = at + step * gap.first, at + step * gap.stop
    missing = f"{len(span) - 1 if gap.advance is not None else len(span)} capture(s) missing"
    note(
        RULE_GAP,
        Flag.ESTIMATED,
        inside,
        f"gap: {missing} between {t0.isoformat()} and {t1.isoformat()}, "
        f"{len(span)} interval(s), {len(inside)} inside the period",
    )
    if gap.advance is not None and gap.advance < ZERO:
        # kept as the register says (spread evenly, negative), so the series still sums to the
        # register's advance; suspect, for a person to look at
        shares = [
            -part
            for part in spread(-gap.advance, [ONE] * len(span), settings.estimate_resolution_kwh)
        ]
        for g, share in zip(span, shares, strict=True):
            if 0 <= g < count:
                work.kwh[g] = share
                work.mark(g, Flag.SUSPECT, RULE_NEGATIVE)
        note(
            RULE_NEGATIVE,
            Flag.SUSPECT,
            inside,
            f"register went backwards by {-gap.advance} kWh across the gap (not a rollover): "
            f"spread evenly over its {len(span)} interval(s), suspect",
        )
        return ZERO
    dark = {g for g in span if _in_outage(at + step * g, at + step * (g + 1), outages)}
    live = [g for g in span if g not in dark]
    if not live and gap.advance is not None and gap.advance > ZERO:
        live, dark = list(span), set()  # the register advanced: the outage did not cover it all
    quantum = settings.estimate_resolution_kwh
    rule = RULE_INTERPOLATE
    values: list[Decimal] = []
    how = ""
    if live:
        shape = [typical.at(g) if typical is not None else None for g in live]
        have_shape = any(v is not None and v > ZERO for v in shape)
        if gap.advance is not None and (
            len(live) <= settings.interpolate_max_intervals or not have_shape
        ):
            values = spread(gap.advance, [ONE] * len(live), quantum)
            how = f"advance {gap.advance} kWh spread evenly over {len(live)} interval(s)"
            if len(live) > settings.interpolate_max_intervals:
                how += " (no matching days to shape a long gap)"
        else:
            rule = RULE_HISTORY
            fill = _mean_present(shape)
            weights = [v if v is not None else fill for v in shape]
            source = "history" if typical is not None and typical.from_history else "the period"
            if gap.advance is not None:
                values = spread(gap.advance, weights, quantum)
                how = (
                    f"advance {gap.advance} kWh shared over {len(live)} interval(s) in the shape "
                    f"of matching days from {source} (typical sum {sum(weights, ZERO):.3f} kWh)"
                )
            else:
                values = [w.quantize(quantum, ROUND_HALF_EVEN) for w in weights]
                how = (
                    f"register unknown on one side: {len(live)} interval(s) at the average of "
                    f"matching days from {source}"
                    if have_shape
                    else f"register unknown on one side and no matching days: {len(live)} "
                    "interval(s) at zero"
                )
    estimated = ZERO
    by_interval = dict(zip(live, values, strict=True))
    for g in inside:
        if g in dark:
            work.kwh[g] = ZERO
            work.mark(g, Flag.SUBSTITUTED, RULE_OUTAGE)
        else:
            work.kwh[g] = by_interval[g]
            work.mark(g, Flag.ESTIMATED, rule)
            estimated += by_interval[g]
    dark_inside = [g for g in inside if g in dark]
    if dark_inside:
        note(
            RULE_OUTAGE,
            Flag.SUBSTITUTED,
            dark_inside,
            f"power outage: {len(dark_inside)} missing interval(s) substituted as zero use",
        )
    live_inside = [g for g in inside if g not in dark]
    if live_inside:
        note(
            rule,
            Flag.ESTIMATED,
            live_inside,
            f"{how}; {sum((by_interval[g] for g in live_inside), ZERO)} kWh estimated inside "
            "the period",
        )
    return estimated


def _mean_present(values: Sequence[Decimal | None]) -> Decimal:
    present = [v for v in values if v is not None]
    return sum(present, ZERO) / len(present) if present else ZERO
