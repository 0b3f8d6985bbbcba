"""Validation rules on interval data: spikes, consecutive zeros (or an outage's zeros), intervals
around a clock adjustment, and intervals that do not sum to the tariff registers' advance.

Every rule keeps the measured value and flags it suspect (an outage's zeros: substituted); the
first rule to flag an interval names it. Each rule has a cheap test on a clean month (`*_found`)
so a month that passes needs no per-interval objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from billing.vee.captures import ZERO, Clean, Work
from billing.vee.grid import Grid
from billing.vee.model import (
    RULE_CLOCK,
    RULE_OUTAGE,
    RULE_SPIKE,
    RULE_SUM,
    RULE_ZEROS,
    Flag,
)
from billing.vee.register import Register
from billing.vee.settings import VeeSettings


def typical_use(
    nonzero_total: Decimal, nonzero_count: int, history_mean: Decimal | None, settings: VeeSettings
) -> tuple[Decimal, str] | None:
    """Typical interval use for the spike rule and where it came from, or None (too little data)."""
    if nonzero_count >= settings.min_typical_intervals:
        mean = nonzero_total / nonzero_count
        return mean, f"mean of the period's {nonzero_count} non-zero intervals"
    if history_mean is not None:
        return history_mean, "mean of the history's non-zero intervals"
    return None


def clean_typical(clean: Clean) -> tuple[Decimal, int]:
    """Sum and count of a clean month's non-zero intervals (sum: the register advance)."""
    return clean.values[-1] - clean.values[0], clean.nonzero()


def work_typical(work: Work) -> tuple[Decimal, int]:
    values = [
        v
        for v, f in zip(work.raw, work.flags, strict=True)
        if v is not None and v > ZERO and f is Flag.ACTUAL
    ]
    return sum(values, ZERO), len(values)


def flag_spikes(
    work: Work,
    grid: Grid,
    meter_id: str,
    obis: str,
    typical: tuple[Decimal, str],
    settings: VeeSettings,
) -> None:
    mean, source = typical
    limit = settings.spike_multiple * mean
    for k, value in enumerate(work.raw):
        if value is not None and value > limit and work.mark(k, Flag.SUSPECT, RULE_SPIKE):
            why = (
                f"{value} kWh is above {settings.spike_multiple} x typical {mean:.4f} kWh "
                f"({source}) = {limit:.4f} kWh: kept as measured"
            )
            work.findings.append(
                grid.finding(meter_id, obis, RULE_SPIKE, k, k + 1, Flag.SUSPECT, why)
            )


def flag_zeros(
    work: Work,
    grid: Grid,
    meter_id: str,
    obis: str,
    outages: Sequence[tuple[datetime, datetime]],
    settings: VeeSettings,
) -> None:
    """Runs of measured zeros longer than allowed: substituted inside an outage, else suspect."""
    run_start = None
    count = len(work.raw)
    for k in range(count + 1):
        value = work.raw[k] if k < count else None
        if value is not None and value == ZERO:
            if run_start is None:
                run_start = k
            continue
        if run_start is not None and k - run_start > settings.max_zero_intervals:
            _zero_run(work, grid, meter_id, obis, run_start, k, outages, settings)
        run_start = None


def _zero_run(
    work: Work,
    grid: Grid,
    meter_id: str,
    obis: str,
    first: int,
    stop: int,
    outages: Sequence[tuple[datetime, datetime]],
    settings: VeeSettings,
) -> None:
    at, step = grid.start, grid.interval
    dark = [
        k
        for k in range(first, stop)
        if any(d <= at + step * k and at + step * (k + 1) <= u for d, u in outages)
    ]
    dark_set = set(dark)
    for k in range(first, stop):
        if k in dark_set:
            work.mark(k, Flag.SUBSTITUTED, RULE_OUTAGE)
        else:
            work.mark(k, Flag.SUSPECT, RULE_ZEROS)
    light = stop - first - len(dark)
    detail = f"{stop - first} consecutive zero intervals (more than {settings.max_zero_intervals})"
    if dark:
        why = f"{detail}: {len(dark)} inside a power outage, zero use"
        work.findings.append(
            grid.finding(meter_id, obis, RULE_OUTAGE, dark[0], dark[-1] + 1, Flag.SUBSTITUTED, why)
        )
    if light:
        why = f"{detail}: {light} outside any power outage, kept as measured"
        work.findings.append(
            grid.finding(meter_id, obis, RULE_ZEROS, first, stop, Flag.SUSPECT, why)
        )


def clock_windows(
    grid: Grid, adjustments: Sequence[datetime], settings: VeeSettings
) -> list[tuple[datetime, int, int]]:
    """(adjustment, first, stop) interval ranges around each clock adjustment in the period."""
    window = timedelta(minutes=settings.clock_window_minutes)
    found = []
    for adjusted in adjustments:
        first = max((adjusted - window - grid.start) // grid.interval, 0)
        last = min((adjusted + window - grid.start) // grid.interval, grid.count - 1)
        if first <= last:
            found.append((adjusted, first, last + 1))
    return found


def flag_clock(
    work: Work,
    grid: Grid,
    meter_id: str,
    obis: str,
    windows: list[tuple[datetime, int, int]],
    settings: VeeSettings,
) -> None:
    for adjusted, first, stop in windows:
        marked = [
            k
            for k in range(first, stop)
            if work.raw[k] is not None and work.mark(k, Flag.SUSPECT, RULE_CLOCK)
        ]
        why = (
            f"clock adjusted at {adjusted.isoformat()}: {len(marked)} measured interval(s) "
            f"within "
            f"{settings.clock_window_minutes} min kept as measured"
        )
        work.findings.append(
            grid.finding(meter_id, obis, RULE_CLOCK, first, stop, Flag.SUSPECT, why)
        )


def rate_spans(
    grid: Grid, rates: Mapping[str, Register], modulus: Decimal | None
) -> list[tuple[int, int, Decimal]]:
    """(first, stop, advance): the tariff registers' summed advance between consecutive instants
    at which all of them were read (daily registers), inside the period and on the grid."""
    if not rates:
        return []
    index = grid.index
    by_register: list[dict[int, Decimal]] = []
    for register in rates.values():
        lo, hi = register.span(grid.times[0], grid.times[-1])
        on_grid = {}
        for at, value in zip(register.times[lo:hi], register.values[lo:hi], strict=True):
            k = index.get(at)
            if k is not None:
                on_grid[k] = value
        by_register.append(on_grid)
    common = sorted(set(by_register[0]).intersection(*by_register[1:]))
    half = modulus / 2 if modulus is not None else None
    spans = []
    for k0, k1 in pairwise(common):
        advance = ZERO
        for values in by_register:
            step = values[k1] - values[k0]
            if step < ZERO and half is not None and modulus is not None and -step > half:
                step += modulus
            advance += step
        spans.append((k0, k1, advance))
    return spans


def clean_sum_found(
    clean: Clean, spans: list[tuple[int, int, Decimal]], settings: VeeSettings
) -> bool:
    values = clean.values
    tolerance = settings.sum_tolerance_kwh
    return any(abs(values[k1] - values[k0] - advance) > tolerance for k0, k1, advance in spans)


def flag_sums(
    work: Work,
    grid: Grid,
    meter_id: str,
    obis: str,
    spans: list[tuple[int, int, Decimal]],
    settings: VeeSettings,
) -> None:
    """After estimation (every kwh known): spans whose intervals miss the registers' advance."""
    for k0, k1, advance in spans:
        total = sum((v for v in work.kwh[k0:k1] if v is not None), ZERO)
        if abs(total - advance) <= settings.sum_tolerance_kwh:
            continue
        estimated = sum(1 for f in work.flags[k0:k1] if f is Flag.ESTIMATED)
        for k in range(k0, k1):
            if work.raw[k] is not None:
                work.mark(k, Flag.SUSPECT, RULE_SUM)
        why = (
            f"intervals sum to {total} kWh, tariff registers advanced {advance} kWh "
            f"(difference {total - advance} kWh, tolerance {settings.sum_tolerance_kwh}; "
            f"{estimated} estimated interval(s) in the span)"
        )
        work.findings.append(grid.finding(meter_id, obis, RULE_SUM, k0, k1, Flag.SUSPECT, why))
