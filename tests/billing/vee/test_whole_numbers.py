"""The whole-number lane of billing's reading path gives what the Decimal lane gives: a register
whose values are `ScaledInts` (the store's column of whole Wh, read in kWh) goes through VEE, the
split by tariff period and NEM12's value texts to the same series, findings, sums and texts as the
same values as a list of Decimal, for clean months and for months with zero runs, spikes, a step
backwards, a rollover, a missing capture, a flagged capture and reads between captures."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from billing.determinants.intervals import label_runs, split_by_period
from billing.export.nem12 import value_texts
from billing.meter_data import in_kwh
from billing.vee.grid import Grid, grid_for
from billing.vee.model import Flag, IntervalSeries
from billing.vee.register import Register
from billing.vee.series import SeriesResult, vee_series
from billing.vee.settings import VeeSettings
from headend.store.register_columns import RegisterColumns
from headend.store.scaled_ints import SMALL, ScaledInts

STEP = timedelta(minutes=15)
START = datetime(2026, 10, 1, tzinfo=UTC)
IMPORT = "1.0.1.8.0.255"
RATE = "1.0.1.8.1.255"
MODULUS_WH = 10**9  # VeeSettings' default rollover, 1,000,000 kWh, in Wh


@dataclass(frozen=True)
class Month:
    """A register's captures in whole Wh over `days` days (plus `margin` captures either side)."""

    days: int
    times: tuple[datetime, ...]
    wh: tuple[int, ...]
    flagged: dict[datetime, str]
    reads: int = 0  # reads between captures
    history_wh: tuple[int, ...] = ()  # the day before the period, for estimation's averages
    rate_wh: tuple[tuple[int, int], ...] = ()  # (grid index, Wh): a daily tariff register
    clock: tuple[datetime, ...] = ()  # clock adjustments

    @property
    def grid(self) -> Grid:
        return grid_for(START, START + timedelta(days=self.days), STEP)

    def as_ints(self) -> Register:
        return Register(self.times, ScaledInts(np.array(self.wh, dtype=np.int64), -3), self.flagged)

    def as_decimals(self) -> Register:
        return Register(self.times, [Decimal(v).scaleb(-3) for v in self.wh], self.flagged)

    def rates(self, whole: bool) -> dict[str, Register] | None:
        if not self.rate_wh:
            return None
        times = tuple(START + STEP * k for k, _ in self.rate_wh)
        wh = [v for _, v in self.rate_wh]
        if whole:
            return {RATE: Register(times, ScaledInts(np.array(wh, dtype=np.int64), -3), {})}
        return {RATE: Register(times, [Decimal(v).scaleb(-3) for v in wh], {})}

    def history(self, whole: bool) -> Register:
        times = tuple(START - timedelta(days=1) + STEP * i for i in range(len(self.history_wh)))
        if whole:
            return Register(times, ScaledInts(np.array(self.history_wh, dtype=np.int64), -3), {})
        return Register(times, [Decimal(v).scaleb(-3) for v in self.history_wh], {})


@st.composite
def months(draw: st.DrawFn) -> Month:
    days = draw(st.integers(1, 2))
    margin = draw(st.sampled_from([0, 0, 3]))  # captures before the start and after the end
    count = days * 96 + 2 * margin
    step = st.one_of(
        st.just(0),
        st.integers(0, 400),
        st.integers(SMALL - 5, SMALL + 100_000),  # past the shared table
    )
    kind = draw(st.sampled_from(["flat", "mixed", "mostly-zero"]))
    if kind == "flat":
        base = draw(st.integers(0, 3000))
        steps = [base] * count
    elif kind == "mostly-zero":
        steps = [0] * count
    else:
        steps = draw(st.lists(step, min_size=count, max_size=count))
    # sprinkled changes: a spike, a zero run, a step backwards
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, count - 1))
        steps[at] = draw(st.one_of(step, st.integers(10**6, 10**7)))
    if draw(st.booleans()):
        at, run = draw(st.integers(0, count - 20)), draw(st.integers(1, 20))
        steps[at : at + run] = [0] * run
    defects = draw(st.booleans())  # else a month the whole-number lane may take
    if defects and draw(st.booleans()):
        steps[draw(st.integers(0, count - 1))] = -draw(st.integers(1, 5000))
    first = draw(st.one_of(st.integers(0, 10**8), st.integers(MODULUS_WH - 10**6, MODULUS_WH - 1)))
    rolls = draw(st.booleans())  # a six-digit kWh register rolls over at 1,000,000 kWh
    wh = [first]
    for s in steps:
        wh.append(wh[-1] + s)
    if rolls:
        wh = [v % MODULUS_WH for v in wh]
    times = [START + STEP * (i - margin) for i in range(count + 1)]
    rate: list[tuple[int, int]] = []
    if draw(st.booleans()):  # read at each midnight: the intervals should sum to its advance
        off = 0
        for k in range(0, days * 96 + 1, 96):
            off += draw(st.sampled_from([0, 0, 30, 100_000]))  # Wh the intervals miss
            rate.append((k, wh[k + margin] + off))
    clock: list[datetime] = []
    if defects and draw(st.integers(0, 3)) == 0:  # the meter's clock set at 3 past
        clock.append(START + STEP * draw(st.integers(0, count)) + timedelta(minutes=3))
    pairs = list(zip(times, wh, strict=True))
    flagged: dict[datetime, str] = {}
    if defects and draw(st.booleans()):
        at = draw(st.integers(0, len(pairs) - 1))
        flagged[pairs[at][0]] = draw(st.sampled_from(["estimated", "clock-adjusted"]))
    # reads between captures (a daily billing read at 00:05), with a value between theirs
    reads = 0
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        at = draw(st.integers(0, len(pairs) - 2))
        (t0, v0), (t1, v1) = pairs[at], pairs[at + 1]
        if t1 - t0 == STEP:
            lo, hi = sorted((v0, v1))
            pairs.insert(at + 1, (t0 + timedelta(minutes=5), draw(st.integers(lo, hi))))
            reads += 1
    # missing captures (a gap), never all of them
    for _ in range(draw(st.sampled_from([0, 1, 3])) if defects else 0):
        del pairs[draw(st.integers(0, len(pairs) - 1))]
    if defects and draw(st.integers(0, 3)) == 0:  # a long gap: past interpolation
        at = draw(st.integers(0, len(pairs) - 40))
        del pairs[at : at + draw(st.integers(9, 30))]
    history: list[int] = []
    if draw(st.booleans()):
        history = [draw(st.integers(0, 10**6))]
        for use in draw(st.lists(st.integers(0, 2000), min_size=96, max_size=96)):
            history.append(history[-1] + use)
    captures = tuple(t for t, _ in pairs), tuple(v for _, v in pairs)
    return Month(days, *captures, flagged, reads, tuple(history), tuple(rate), tuple(clock))


vee_settings = st.builds(
    VeeSettings,
    max_zero_intervals=st.sampled_from([4, 96]),
    min_typical_intervals=st.sampled_from([1, 96]),
    spike_multiple=st.sampled_from([Decimal(3), Decimal(10)]),
)


def texts(values: object) -> list[str]:
    assert isinstance(values, tuple | list)
    return [str(v) for v in values]


def assert_same_series(got: IntervalSeries, want: IntervalSeries) -> None:
    assert (got.meter_id, got.obis, got.start, got.interval) == (
        want.meter_id,
        want.obis,
        want.start,
        want.interval,
    )
    assert got.kwh == want.kwh and texts(got.kwh) == texts(want.kwh)
    assert got.raw == want.raw and texts(got.raw) == texts(want.raw)
    assert got.flags == want.flags
    assert got.rules == want.rules


def assert_same_result(got: SeriesResult, want: SeriesResult) -> None:
    assert_same_series(got.series, want.series)
    assert got.findings == want.findings  # details name the same values, spelled the same
    assert got.estimated_kwh == want.estimated_kwh
    assert str(got.estimated_kwh) == str(want.estimated_kwh)
    assert got.peak == want.peak and str(got.peak) == str(want.peak)
    assert list(got.cumulative) == list(want.cumulative)
    assert texts(list(got.cumulative)) == texts(list(want.cumulative))


def by_hour(series: IntervalSeries) -> list[str]:
    """Tariff labels by UTC hour (runs of several lengths, a name seen twice)."""
    names = []
    for i in range(len(series)):
        hour = series.interval_start(i).hour
        names.append("night" if hour < 7 or hour >= 23 else "peak" if 17 <= hour < 21 else "day")
    return names


@settings(max_examples=200, deadline=None, derandomize=True)
@given(months(), vee_settings, st.booleans())
def test_whole_numbers_give_what_decimals_give(
    month: Month, vee: VeeSettings, check_zeros: bool
) -> None:
    grid = month.grid
    fast, slow = (
        vee_series(
            "m1",
            IMPORT,
            month.as_ints() if whole else month.as_decimals(),
            grid,
            vee,
            history=month.history(whole),
            rates=month.rates(whole),
            clock_adjustments=month.clock,
            check_zeros=check_zeros,
        )
        for whole in (True, False)
    )
    assert (fast is None) == (slow is None)
    if fast is None or slow is None:
        event("no load profile")
        return
    assert_same_result(fast, slow)
    assert slow.series.steps is None
    lane = "whole-number lane" if fast.series.steps is not None else "careful or flagged"
    event(f"{lane}, {month.reads} read(s) between captures")
    event("findings: " + (", ".join(sorted({f.rule for f in fast.findings})) or "none"))
    if fast.series.steps is not None:  # only a clean month carries its steps
        assert set(fast.series.flags) == {Flag.ACTUAL}
        assert list(fast.series.steps) == list(fast.series.kwh)
    runs = label_runs(by_hour(fast.series))
    got, want = split_by_period(fast.cumulative, runs), split_by_period(slow.cumulative, runs)
    assert got == want and {k: str(v) for k, v in got.items()} == {
        k: str(v) for k, v in want.items()
    }
    assert sum(got.values(), Decimal(0)) == fast.series.total()
    spelled = value_texts(fast.series)
    assert spelled == value_texts(replace(fast.series, steps=None))
    assert spelled == value_texts(slow.series)


def clean_month(steps: list[int], first: int = 1_049_058) -> Month:
    wh = [first]
    for s in steps:
        wh.append(wh[-1] + s)
    times = tuple(START + STEP * i for i in range(len(wh)))
    return Month(len(steps) // 96, times, tuple(wh), {})


def test_a_clean_month_takes_the_whole_number_lane() -> None:
    steps = [250, 0, 1000, 70_000, 3] * 19 + [250]  # 96 intervals, one step past the table
    month = clean_month(steps)
    result = vee_series("m1", IMPORT, month.as_ints(), month.grid, VeeSettings())
    assert result is not None and result.findings == ()
    assert isinstance(result.series.steps, ScaledInts)
    assert result.series.steps.ints.tolist() == steps
    assert isinstance(result.cumulative, ScaledInts)
    assert texts(result.series.kwh[:5]) == ["0.250", "0.000", "1.000", "70.000", "0.003"]
    assert str(result.peak) == "70.000"
    assert value_texts(result.series)[:5] == ["0.250", "0.000", "1.000", "70.000", "0.003"]
    runs = label_runs(by_hour(result.series))
    assert split_by_period(result.cumulative, runs) == split_by_period(
        month.as_decimals().values, runs
    )


def test_a_read_between_captures_is_dropped_and_the_lane_kept() -> None:
    steps = [100] * 96
    month = clean_month(steps)
    times, wh = list(month.times), list(month.wh)
    times.insert(1, START + timedelta(minutes=5))  # the daily read at 00:05
    wh.insert(1, wh[0] + 40)
    with_read = replace(month, times=tuple(times), wh=tuple(wh))
    result = vee_series("m1", IMPORT, with_read.as_ints(), month.grid, VeeSettings())
    assert result is not None and result.findings == ()
    assert result.series.steps is not None and result.series.steps.ints.tolist() == steps
    assert list(result.cumulative) == list(month.as_decimals().values)
    # the register the read came from is untouched
    assert with_read.as_ints().values == with_read.as_decimals().values


def test_a_step_backwards_leaves_the_lane_and_says_so_in_kwh() -> None:
    steps = [100] * 96
    steps[10] = -7
    month = clean_month(steps)
    result = vee_series("m1", IMPORT, month.as_ints(), month.grid, VeeSettings())
    assert result is not None and result.series.steps is None
    assert result.series.flags[10] is Flag.SUSPECT and str(result.series.kwh[10]) == "-0.007"
    (finding,) = result.findings
    assert "from 1050.058 to 1050.051 kWh (-0.007 kWh)" in finding.detail


def test_value_texts_at_other_exponents() -> None:
    for exponent in (0, -3, 2, -1):
        ints = [0, 5, SMALL - 1, SMALL, 123_456, 10]
        steps = ScaledInts(np.array(ints, dtype=np.int64), exponent)
        kwh = tuple(steps.decimals())
        count = len(kwh)
        series = IntervalSeries(
            "m1", IMPORT, START, STEP, kwh, kwh, (Flag.ACTUAL,) * count, ("",) * count, steps
        )
        spelled = value_texts(series)
        assert spelled == value_texts(replace(series, steps=None))
        assert all("E" not in t for t in spelled)
        assert [Decimal(t) for t in spelled] == list(kwh)
        # all in the table
        small = replace(series, steps=steps[:2], kwh=kwh[:2], raw=kwh[:2], flags=(), rules=())
        assert value_texts(small) == value_texts(replace(small, steps=None))


def test_in_kwh_rescales_whole_numbers_without_parsing_them() -> None:
    wh = [1_049_058, 1_049_058, 1_119_058, 0]
    times = [START + STEP * i for i in range(len(wh))]
    for unit, stored_by, scaled_by in (("Wh", 0, 0), ("Wh", -3, -3), ("MWh", 0, 0), ("kWh", 0, 0)):
        ints = ScaledInts(np.array(wh, dtype=np.int64), stored_by)
        column = RegisterColumns("m1", IMPORT, unit, True, times, ints, {}, scaled_by)
        want = {"Wh": -3, "kWh": 0, "MWh": 3}[unit]
        got = in_kwh(column).values
        assert isinstance(got, ScaledInts) and got.ints is ints.ints  # no copy, no Decimals
        assert got == [Decimal(v).scaleb(want) for v in wh]
        decimals = replace(column, values=list(ints))
        assert texts(list(got)) == texts(list(in_kwh(decimals).values))
