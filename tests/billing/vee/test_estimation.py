"""Estimation of missing intervals: linear interpolation (exact sums), the shape of matching past
days for a long gap, a gap with the register known on one side only, a power outage as zero use;
and properties that hold for any data (hypothesis)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.determinants.inputs import Capture
from billing.vee.estimate import spread
from billing.vee.model import (
    RULE_ACTUAL,
    RULE_GAP,
    RULE_HISTORY,
    RULE_INTERPOLATE,
    RULE_OUTAGE,
    Flag,
)
from billing.vee.settings import VeeSettings
from tests.billing.determinants.meter_data import DAY1, IMPORT, STEP, D, cumulative, run


def test_short_gap_is_interpolated_and_sums_exactly() -> None:
    # intervals 40..42 (10:00-10:45) measured 0.300, 0.400, 0.301; captures 41 and 42 (10:15,
    # 10:30) lost. The register is known at 10:00 and 10:45: advance 1.001 kWh over 3 intervals.
    # Running totals rounded to 1 Wh: 1.001/3 = 0.333667 -> 0.334; 2.002/3 = 0.667333 -> 0.667;
    # the last is the advance itself, 1.001. Estimates: 0.334, 0.333, 0.334 (sum 1.001).
    uses = [D("0.250")] * 96
    uses[40:43] = [D("0.300"), D("0.400"), D("0.301")]
    det = run({IMPORT: cumulative(DAY1, D("500.000"), uses, missing=[41, 42])}, flat=True)
    series = det.series[0]
    assert series.kwh[40:43] == (D("0.334"), D("0.333"), D("0.334"))
    assert series.raw[40:43] == (None, None, None)
    assert series.flags[40:43] == (Flag.ESTIMATED,) * 3
    assert series.rules[40:43] == (RULE_INTERPOLATE,) * 3
    assert series.raw[39] == D("0.250") and series.flags[39] is Flag.ACTUAL
    # the day: 93 x 0.250 + 1.001 = 24.251, the register's advance
    assert det.import_kwh == {"all": D("24.251")}
    assert det.estimated_kwh == D("1.001")
    assert [f.rule for f in det.findings] == [RULE_GAP, RULE_INTERPOLATE]
    gap = det.findings[0]
    assert gap.start == DAY1 + STEP * 40 and gap.end == DAY1 + STEP * 43
    assert "2 capture(s) missing" in gap.detail
    assert "1.001" in det.findings[1].detail


def history_days(days: int, use_of_hour: dict[int, Decimal]) -> list[Capture]:
    """Captures over `days` days before DAY1 whose interval use depends on the UTC hour."""
    first = DAY1 - timedelta(days=days)
    uses = [use_of_hour.get((first + STEP * i).hour, D("0.1")) for i in range(days * 96)]
    return cumulative(first, D("200.000"), uses)


def test_long_gap_takes_the_shape_of_matching_days_scaled_to_the_advance() -> None:
    # history (7 days): 08:xx uses 0.1 per interval, 09:xx 0.2, 10:xx 0.3, 11:xx 0.4.
    # On Oct 1 (a Thursday) the captures 08:15..11:45 (indices 33..47) are lost: a gap of 16
    # intervals (08:00-12:00), longer than 8: shaped by the weekday history. The register
    # advanced 3.2 kWh (16 x 0.2 measured) while the history's slots sum to
    # 4 x (0.1 + 0.2 + 0.3 + 0.4) = 4.0, so each estimate is its history x 3.2 / 4.0 = x 0.8:
    # 0.08 (08:xx), 0.16 (09:xx), 0.24 (10:xx), 0.32 (11:xx); 4 x 0.80 = 3.2.
    hourly = {8: D("0.1"), 9: D("0.2"), 10: D("0.3"), 11: D("0.4")}
    uses = [D("0.2")] * 96
    det = run(
        {IMPORT: cumulative(DAY1, D("800.000"), uses, missing=range(33, 48))},
        flat=True,
        history={IMPORT: history_days(7, hourly)},
    )
    series = det.series[0]
    expected = [D("0.08")] * 4 + [D("0.16")] * 4 + [D("0.24")] * 4 + [D("0.32")] * 4
    assert list(series.kwh[32:48]) == expected
    assert series.rules[32:48] == (RULE_HISTORY,) * 16
    assert series.flags[32:48] == (Flag.ESTIMATED,) * 16
    assert sum(series.kwh[32:48]) == D("3.2")
    assert det.import_kwh == {"all": D("19.2")}  # the register advance, 96 x 0.2
    assert det.estimated_kwh == D("3.2")
    assert "history" in det.findings[-1].detail


def test_gap_known_on_one_side_takes_the_average_of_matching_days() -> None:
    # captures stop after 20:00 (index 80) and nothing follows: intervals 80..95 (20:00-24:00)
    # have no register after them. History uses 0.3 per interval at 20:xx-23:xx (0.1 elsewhere):
    # each estimate is that average, 0.300, and the day is 80 x 0.2 + 16 x 0.3 = 20.8.
    hourly = {20: D("0.3"), 21: D("0.3"), 22: D("0.3"), 23: D("0.3")}
    captures = cumulative(DAY1, D("10.000"), [D("0.2")] * 80)
    det = run({IMPORT: captures}, flat=True, history={IMPORT: history_days(3, hourly)})
    series = det.series[0]
    assert series.kwh[80:] == (D("0.300"),) * 16
    assert series.rules[80:] == (RULE_HISTORY,) * 16 and series.raw[80:] == (None,) * 16
    assert det.import_kwh == {"all": D("20.800")}


def test_outage_is_zero_use_and_the_rest_of_the_gap_takes_the_advance() -> None:
    # captures 02:15..03:45 (indices 9..15) lost: gap 02:00-04:00 (intervals 8..15). A power
    # outage 02:00-03:00 covers intervals 8..11: zero use, substituted. The register advanced
    # 0.8 kWh across the gap, shared evenly by intervals 12..15: 0.2 each.
    uses = [D("0.1")] * 96
    uses[12:16] = [D("0.2")] * 4
    uses[8:12] = [D(0)] * 4
    det = run(
        {IMPORT: cumulative(DAY1, D("10.0"), uses, missing=range(9, 16))},
        flat=True,
        outages=[(DAY1 + timedelta(hours=2), DAY1 + timedelta(hours=3))],
    )
    series = det.series[0]
    assert series.kwh[8:12] == (D(0),) * 4 and series.flags[8:12] == (Flag.SUBSTITUTED,) * 4
    assert series.rules[8:12] == (RULE_OUTAGE,) * 4 and series.raw[8:12] == (None,) * 4
    assert series.kwh[12:16] == (D("0.200"),) * 4 and series.rules[12:16] == (RULE_INTERPOLATE,) * 4
    assert det.import_kwh == {"all": D("9.6")}  # 88 x 0.1 + 0.8
    assert det.estimated_kwh == D("0.8")
    assert RULE_OUTAGE in [f.rule for f in det.findings]


def test_whole_gap_inside_an_outage_is_zero() -> None:
    # the meter was off 01:00-05:00: no captures 01:15..04:45 (indices 5..19) and the register
    # did not move. All 16 intervals of the gap are zero use, substituted; nothing estimated.
    uses = [D("0.1")] * 96
    uses[4:20] = [D(0)] * 16
    det = run(
        {IMPORT: cumulative(DAY1, D("10.0"), uses, missing=range(5, 20))},
        flat=True,
        outages=[(DAY1 + timedelta(hours=1), DAY1 + timedelta(hours=5))],
    )
    series = det.series[0]
    assert series.flags[4:20] == (Flag.SUBSTITUTED,) * 16 and series.kwh[4:20] == (D(0),) * 16
    assert det.estimated_kwh == D(0) and det.import_kwh == {"all": D("8.0")}


def test_spread_rounds_running_totals_so_no_part_is_negative() -> None:
    # 0.0048 over 8 even parts: rounding each share (0.0006 -> 0.001) would give 7 x 0.001 and a
    # last part of -0.0022. Rounded running totals: 0.0006->0.001, 0.0012->0.001, 0.0018->0.002,
    # 0.0024->0.002, 0.0030->0.003 (half-even), 0.0036->0.004, 0.0042->0.004, last 0.0048.
    parts = spread(D("0.0048"), [D(1)] * 8, D("0.001"))
    assert parts == [
        D("0.001"),
        D("0"),
        D("0.001"),
        D("0"),
        D("0.001"),
        D("0.001"),
        D("0"),
        D("0.0008"),
    ]
    assert sum(parts) == D("0.0048")


uses_strategy = st.lists(
    st.decimals(min_value=0, max_value=5, places=3, allow_nan=False, allow_infinity=False),
    min_size=96,
    max_size=96,
)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    uses=uses_strategy,
    missing=st.sets(st.integers(min_value=1, max_value=95), max_size=60),
    max_linear=st.integers(min_value=1, max_value=12),
)
def test_any_gaps_with_both_ends_known_sum_to_the_register_advance(
    uses: list[Decimal], missing: set[int], max_linear: int
) -> None:
    # captures 0 and 96 are always kept, so every gap has the register on both sides
    captures = cumulative(DAY1, D("1000.000"), uses, missing=sorted(missing))
    det = run(
        {IMPORT: captures},
        flat=True,
        settings=VeeSettings(interpolate_max_intervals=max_linear, spike_multiple=D(1000)),
    )
    series = det.series[0]
    assert series.total() == sum(uses, D(0))  # the register advance, exactly
    assert det.import_kwh == {"all": sum(uses, D(0))}
    for i, (kwh, raw, flag, rule) in enumerate(
        zip(series.kwh, series.raw, series.flags, series.rules, strict=True)
    ):
        assert isinstance(flag, Flag) and (flag is Flag.ACTUAL) == (rule == RULE_ACTUAL)
        measured = i not in missing and i + 1 not in missing
        if measured:
            assert raw == uses[i]  # the raw value stays beside whatever is billed
        else:
            assert raw is None and flag is Flag.ESTIMATED and kwh >= 0
        if flag is Flag.ACTUAL:
            assert kwh == raw
    assert det.estimated_kwh == sum(
        (k for k, f in zip(series.kwh, series.flags, strict=True) if f is Flag.ESTIMATED), D(0)
    )


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    total=st.decimals(
        min_value=0, max_value=10000, places=4, allow_nan=False, allow_infinity=False
    ),
    weights=st.lists(
        st.decimals(min_value=0, max_value=100, places=3, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=40,
    ),
)
def test_spread_sums_exactly_and_never_goes_negative(
    total: Decimal, weights: list[Decimal]
) -> None:
    parts = spread(total, weights, D("0.001"))
    assert len(parts) == len(weights)
    assert sum(parts, D(0)) == total
    assert all(p >= 0 for p in parts)


def test_gap_across_which_the_register_went_back_is_kept_as_the_register_says() -> None:
    # captures 10 and 11 lost; measured around them 0.1, -2.0, 0.1: across the gap (intervals
    # 9..11) the register went from C(9) to C(12), -1.8 kWh. Spread evenly: -0.6 each, suspect
    # (negative consumption); the day still sums to the register: 93 x 0.1 - 1.8 = 7.5.
    uses = [D("0.1")] * 96
    uses[10] = D("-2.0")
    det = run({IMPORT: cumulative(DAY1, D("50.0"), uses, missing=[10, 11])}, flat=True)
    series = det.series[0]
    assert series.kwh[9:12] == (D("-0.600"),) * 3 and series.raw[9:12] == (None,) * 3
    assert series.flags[9:12] == (Flag.SUSPECT,) * 3
    assert det.import_kwh == {"all": D("7.500")} and det.flag is Flag.SUSPECT


def test_one_sided_gap_without_history_takes_the_period_mean() -> None:
    # the profile starts at 02:00 and nothing is known before: intervals 0..7 have neither a
    # register before them nor history; each takes the mean of the period's measured intervals,
    # 0.1, so the day is 8 x 0.100 + 88 x 0.1 = 9.6
    captures = cumulative(DAY1 + timedelta(hours=2), D("1"), [D("0.1")] * 88)
    det = run({IMPORT: captures}, flat=True)
    series = det.series[0]
    assert series.kwh[:8] == (D("0.100"),) * 8 and series.rules[:8] == (RULE_HISTORY,) * 8
    assert det.import_kwh == {"all": D("9.600")} and det.estimated_kwh == D("0.800")


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    uses=st.lists(
        st.decimals(min_value=-1, max_value=5, places=3, allow_nan=False, allow_infinity=False),
        min_size=96,
        max_size=96,
    ),
    missing=st.sets(st.integers(min_value=1, max_value=95), max_size=60),
    outage=st.tuples(
        st.integers(min_value=0, max_value=96), st.integers(min_value=0, max_value=48)
    ),
    clock=st.lists(st.integers(min_value=0, max_value=24 * 60), max_size=3),
)
def test_any_data_keeps_the_register_advance_and_a_flag_on_every_value(
    uses: list[Decimal], missing: set[int], outage: tuple[int, int], clock: list[int]
) -> None:
    # negative steps, outages and clock adjustments anywhere: the series still sums to the
    # register's advance (captures 0 and 96 kept), and every value has a flag and its rule
    down = DAY1 + STEP * outage[0]
    det = run(
        {IMPORT: cumulative(DAY1, D("1000.000"), uses, missing=sorted(missing))},
        flat=True,
        settings=VeeSettings(max_zero_intervals=4),
        outages=[(down, down + STEP * outage[1])],
        clock_adjustments=[DAY1 + timedelta(minutes=m) for m in clock],
    )
    series = det.series[0]
    assert series.total() == sum(uses, D(0))
    for raw, flag, rule in zip(series.raw, series.flags, series.rules, strict=True):
        assert (flag is Flag.ACTUAL) == (rule == RULE_ACTUAL)
        assert raw is not None or flag is not Flag.ACTUAL
    for finding in det.findings:
        assert finding.meter_id == "m1" and finding.obis == IMPORT and finding.detail
        assert finding.start <= finding.end
