"""VEE of one register's load profile over a period: intervals from the cumulative captures,
validation, estimation of gaps, and the `IntervalSeries` with a flag and rule on every value.

Typical use (the spike rule's yardstick) is the mean of the period's own non-zero measured
intervals; a period with fewer than `min_typical_intervals` of them uses the history's mean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import accumulate

from billing.vee.captures import ZERO, Clean, Work, read_profile
from billing.vee.estimate import TypicalUse, fill_gaps
from billing.vee.grid import Grid, actual_flags
from billing.vee.model import Finding, IntervalSeries
from billing.vee.register import EMPTY, Register
from billing.vee.settings import VeeSettings
from billing.vee.validate import (
    clean_sum_found,
    clean_typical,
    clock_windows,
    flag_clock,
    flag_spikes,
    flag_sums,
    flag_zeros,
    rate_spans,
    typical_use,
    work_typical,
)


@dataclass(frozen=True, slots=True)
class SeriesResult:
    series: IntervalSeries
    findings: tuple[Finding, ...]
    estimated_kwh: Decimal  # estimated energy inside the period
    # running totals at the grid points (any base): the energy of intervals a..b-1 is
    # cumulative[b] - cumulative[a], so splitting by tariff period costs a subtraction per run
    cumulative: Sequence[Decimal]
    peak: Decimal  # the largest interval value


def vee_series(
    meter_id: str,
    obis: str,
    captures: Register,
    grid: Grid,
    settings: VeeSettings,
    *,
    history: Register = EMPTY,
    outages: Sequence[tuple[datetime, datetime]] = (),
    clock_adjustments: Sequence[datetime] = (),
    rates: Mapping[str, Register] | None = None,
    check_zeros: bool = True,
) -> SeriesResult | None:
    """The register's interval series after VEE; None when it has no load profile in the period."""
    profile = read_profile(meter_id, obis, captures, grid, settings)
    if profile is None:
        return None
    spans = rate_spans(grid, rates, settings.rollover_kwh) if rates else []
    windows = clock_windows(grid, clock_adjustments, settings) if clock_adjustments else []
    if isinstance(profile, Clean):
        total, nonzero = clean_typical(profile)
        typical = _typical(total, nonzero, grid, history, profile, settings)
        diffs = profile.diffs
        peak = profile.peak()
        if not (
            (typical is not None and peak > settings.spike_multiple * typical[0])
            or (check_zeros and len(diffs) - nonzero > settings.max_zero_intervals)
            or windows
            or (spans and clean_sum_found(profile, spans, settings))
        ):
            kwh = tuple(diffs)
            flags, rules = actual_flags(len(kwh))
            series = IntervalSeries(
                meter_id, obis, grid.start, grid.interval, kwh, kwh, flags, rules, profile.steps
            )
            return SeriesResult(series, (), ZERO, profile.values, peak)
        work = Work.from_clean(profile)
    else:
        work = profile
    return _full(
        meter_id, obis, work, grid, settings, history, outages, windows, spans, check_zeros
    )


def _typical(
    total: Decimal,
    nonzero: int,
    grid: Grid,
    history: Register,
    profile: Clean,
    settings: VeeSettings,
) -> tuple[Decimal, str] | None:
    history_mean = None
    if nonzero < settings.min_typical_intervals and history:
        history_mean = TypicalUse(grid, history, Work.from_clean(profile)).history_mean_nonzero
    return typical_use(total, nonzero, history_mean, settings)


def _full(
    meter_id: str,
    obis: str,
    work: Work,
    grid: Grid,
    settings: VeeSettings,
    history: Register,
    outages: Sequence[tuple[datetime, datetime]],
    windows: list[tuple[datetime, int, int]],
    spans: list[tuple[int, int, Decimal]],
    check_zeros: bool,
) -> SeriesResult:
    flag_clock(work, grid, meter_id, obis, windows, settings)
    total, nonzero = work_typical(work)
    long_gap = any(
        g.advance is None or g.stop - g.first > settings.interpolate_max_intervals
        for g in work.gaps
    )
    needs_history = long_gap or nonzero < settings.min_typical_intervals
    use = TypicalUse(grid, history, work) if needs_history else None
    typical = typical_use(total, nonzero, use.history_mean_nonzero if use else None, settings)
    if typical is not None:
        flag_spikes(work, grid, meter_id, obis, typical, settings)
    if check_zeros:
        flag_zeros(work, grid, meter_id, obis, outages, settings)
    estimated = fill_gaps(work, grid, settings, meter_id, obis, outages, use) if work.gaps else ZERO
    kwh: list[Decimal] = []
    for value in work.kwh:
        if value is None:  # every gap is filled: a None here is a bug, not bad data
            raise AssertionError(f"meter {meter_id} {obis}: an interval was left without a value")
        kwh.append(value)
    if spans:
        flag_sums(work, grid, meter_id, obis, spans, settings)
    series = IntervalSeries(
        meter_id,
        obis,
        grid.start,
        grid.interval,
        tuple(kwh),
        tuple(work.raw),
        tuple(work.flags),
        tuple(work.rules),
    )
    cumulative = tuple(accumulate(kwh, initial=ZERO))
    return SeriesResult(series, tuple(work.findings), estimated, cumulative, max(kwh))
