"""Validation rules on one day of 15-minute import data (96 intervals, 2026-10-01 UTC): spikes,
consecutive zeros and an outage's zeros, clock adjustments, stored clock qualities, negative
steps, rollover, and intervals that do not sum to the tariff registers' advance."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from billing.vee.model import (
    RULE_CLOCK,
    RULE_NEGATIVE,
    RULE_OUTAGE,
    RULE_ROLLOVER,
    RULE_SPIKE,
    RULE_SUM,
    RULE_ZEROS,
    Flag,
)
from billing.vee.settings import VeeSettings
from tests.billing.determinants.meter_data import DAY1, DAY2, IMPORT, STEP, D, cumulative, run


def test_clean_day_has_every_value_actual() -> None:
    # 96 intervals of 0.250 kWh from 1000.000: the day's import is 96 x 0.25 = 24.000 kWh
    det = run({IMPORT: cumulative(DAY1, D("1000.000"), [D("0.250")] * 96)}, flat=True)
    series = det.series[0]
    assert det.source == "intervals"
    assert det.import_kwh == {"all": D("24.000")}
    assert set(series.flags) == {Flag.ACTUAL} and set(series.rules) == {""}
    assert series.raw == series.kwh
    assert det.findings == () and det.flag is Flag.ACTUAL
    # a flat 0.25 kWh per 15 minutes is 1 kW, first reached in the first interval
    assert det.max_demand_kw == D("1.000") and det.max_demand_at == DAY1


def test_spike_beyond_multiple_of_typical_is_suspect_and_kept() -> None:
    # 95 intervals of 0.2 and one of 5.0 at 18:00 (interval 72). Typical = mean of the 96
    # non-zero intervals = (95 x 0.2 + 5.0) / 96 = 24 / 96 = 0.25; limit 10 x 0.25 = 2.5 < 5.0
    uses = [D("0.2")] * 96
    uses[72] = D("5.0")
    det = run({IMPORT: cumulative(DAY1, D("100"), uses)}, flat=True)
    series = det.series[0]
    assert series.flags[72] is Flag.SUSPECT and series.rules[72] == RULE_SPIKE
    assert series.kwh[72] == D("5.0") and series.raw[72] == D("5.0")  # kept as measured
    assert [i for i, f in enumerate(series.flags) if f is not Flag.ACTUAL] == [72]
    (finding,) = det.findings
    assert finding.rule == RULE_SPIKE and finding.meter_id == "m1" and finding.obis == IMPORT
    assert finding.start == DAY1 + STEP * 72 and finding.end == DAY1 + STEP * 73
    assert "5.0 kWh" in finding.detail and "0.2500" in finding.detail and "2.5" in finding.detail
    assert det.import_kwh == {"all": D("24.0")}  # 95 x 0.2 + 5.0


def test_no_spike_below_the_multiple() -> None:
    # one interval of 2.0 among 0.2s: typical (95 x 0.2 + 2.0) / 96 = 0.21875, limit 2.1875 > 2.0
    uses = [D("0.2")] * 96
    uses[40] = D("2.0")
    det = run({IMPORT: cumulative(DAY1, D("100"), uses)}, flat=True)
    assert det.findings == ()


def test_consecutive_zeros_suspect_outside_outage_substituted_inside() -> None:
    # zeros 00:00-06:00 (intervals 0..23, 24 of them) > max 16. An outage 00:00-03:00 covers
    # intervals 0..11: those are substituted (zero use), 12..23 suspect. A later run of 10 zeros
    # (intervals 40..49) is within the limit and stays actual.
    uses = [D("0.2")] * 96
    for i in [*range(24), *range(40, 50)]:
        uses[i] = D(0)
    det = run(
        {IMPORT: cumulative(DAY1, D("50"), uses)},
        flat=True,
        settings=VeeSettings(max_zero_intervals=16),
        outages=[(DAY1 - timedelta(minutes=5), DAY1 + timedelta(hours=3))],
    )
    series = det.series[0]
    assert series.flags[:12] == (Flag.SUBSTITUTED,) * 12
    assert series.rules[:12] == (RULE_OUTAGE,) * 12
    assert series.flags[12:24] == (Flag.SUSPECT,) * 12
    assert series.rules[12:24] == (RULE_ZEROS,) * 12
    assert set(series.flags[24:]) == {Flag.ACTUAL}
    assert series.kwh[:24] == (D(0),) * 24 and series.raw[:24] == (D(0),) * 24
    rules = sorted(f.rule for f in det.findings)
    assert rules == [RULE_ZEROS, RULE_OUTAGE]
    zeros = next(f for f in det.findings if f.rule == RULE_ZEROS)
    assert zeros.start == DAY1 and zeros.end == DAY1 + timedelta(hours=6)
    assert "24 consecutive zero intervals" in zeros.detail
    assert det.import_kwh == {"all": D("0.2") * 62}  # 96 - 34 zero intervals


def test_clock_adjustment_and_stored_clock_quality_are_suspect() -> None:
    # a clock adjustment at 10:07 with a 15-minute window touches 09:52..10:22: the intervals
    # starting 09:45 (39), 10:00 (40) and 10:15 (41). The capture at 14:00 (index 56) stored as
    # clock-adjusted bounds intervals 55 (13:45) and 56 (14:00).
    uses = [D("0.1")] * 96
    det = run(
        {IMPORT: cumulative(DAY1, D("10"), uses, quality={56: "clock-adjusted"})},
        flat=True,
        clock_adjustments=[DAY1 + timedelta(hours=10, minutes=7)],
    )
    series = det.series[0]
    suspect = [i for i, f in enumerate(series.flags) if f is Flag.SUSPECT]
    assert suspect == [39, 40, 41, 55, 56]
    assert {series.rules[i] for i in suspect} == {RULE_CLOCK}
    assert series.kwh == series.raw  # kept as measured
    details = " ".join(f.detail for f in det.findings)
    assert "2026-10-01T10:07:00+00:00" in details and "'clock-adjusted'" in details


def test_negative_step_is_suspect_and_a_rollover_is_not() -> None:
    # captures 100.0, 100.2, 100.1 (a step back of -0.1: negative consumption, kept), then on.
    day = cumulative(DAY1, D("100.0"), [D("0.2"), D("-0.1")] + [D("0.1")] * 94)
    det = run({IMPORT: day}, flat=True)
    series = det.series[0]
    assert series.flags[1] is Flag.SUSPECT and series.rules[1] == RULE_NEGATIVE
    assert series.kwh[1] == D("-0.1")
    # the day still sums to the register advance: 0.2 - 0.1 + 94 x 0.1 = 9.5
    assert det.import_kwh == {"all": D("9.5")}

    # a six-digit register: 999999.8 -> 999999.9 -> 0.0 (rolled over at 1,000,000) -> 0.1 ...
    values = [D("999999.8"), D("999999.9")] + [D("0.1") * i for i in range(95)]
    captures = [(DAY1 + STEP * i, v, "ok") for i, v in enumerate(values)]
    det = run({IMPORT: captures}, flat=True)
    series = det.series[0]
    # every interval is 0.1 kWh: 999999.9 -> 0.0 is 0.0 + 1000000 - 999999.9 = 0.1
    assert series.kwh == (D("0.1"),) * 96 and set(series.flags) == {Flag.ACTUAL}
    (finding,) = det.findings
    assert finding.rule == RULE_ROLLOVER and finding.flag is Flag.ACTUAL
    assert finding.start == DAY1 + STEP and "999999.9" in finding.detail
    assert det.import_kwh == {"all": D("9.6")}


def test_intervals_that_do_not_sum_to_the_tariff_registers() -> None:
    # two days of 0.1 kWh intervals: 9.6 kWh a day. The daily tariff registers (night 1.8.1,
    # day 1.8.2) read at 00:00 of Oct 1, 2 and 3: day one they advance 4.0 + 5.6 = 9.6 (agrees),
    # day two 4.0 + 6.1 = 10.1: 0.5 kWh more than the intervals (tolerance 0.05): suspect.
    uses = [D("0.1")] * 192
    rates = {
        "1.0.1.8.1.255": [
            (DAY1, D("10.0"), "ok"),
            (DAY2, D("14.0"), "ok"),
            (DAY2 + timedelta(days=1), D("18.0"), "ok"),
        ],
        "1.0.1.8.2.255": [
            (DAY1, D("20.0"), "ok"),
            (DAY2, D("25.6"), "ok"),
            (DAY2 + timedelta(days=1), D("31.7"), "ok"),
        ],
    }
    det = run(
        {IMPORT: cumulative(DAY1, D("30.0"), uses), **rates},
        end=DAY2 + timedelta(days=1),
        flat=True,
        needs_intervals=True,
    )
    series = det.series[0]
    assert set(series.flags[:96]) == {Flag.ACTUAL}
    assert series.flags[96:] == (Flag.SUSPECT,) * 96 and set(series.rules[96:]) == {RULE_SUM}
    (finding,) = det.findings
    assert finding.rule == RULE_SUM and finding.start == DAY2
    assert finding.end == DAY2 + timedelta(days=1)
    assert "9.6 kWh" in finding.detail and "10.1 kWh" in finding.detail


def test_settings_refuse_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValidationError, match="spike_multipel"):
        VeeSettings.model_validate({"spike_multipel": 5})
    with pytest.raises(ValidationError, match="interpolate_max_intervals"):
        VeeSettings.model_validate({"interpolate_max_intervals": 0})
    assert VeeSettings.model_validate({"rollover_kwh": None}).rollover_kwh is None


def test_register_reads_between_profile_captures_are_left_out_of_the_intervals() -> None:
    # the daily billing read lands at 00:05:03 and 12:05:03, between profile captures, with the
    # register's value then; the intervals are still the 96 profile differences of 0.1 kWh.
    # With capture 30 (07:30) lost as well, the gap 07:15-07:45 is interpolated: 0.2 / 2 = 0.1.
    profile = cumulative(DAY1, D("20.0"), [D("0.1")] * 96)
    reads = [
        (DAY1 + timedelta(minutes=5, seconds=3), D("20.03"), "ok"),
        (DAY1 + timedelta(hours=12, minutes=5, seconds=3), D("24.83"), "clock-suspect"),
    ]
    for lost in ((), (30,)):
        captures = sorted([c for i, c in enumerate(profile) if i not in lost] + reads)
        det = run({IMPORT: captures}, flat=True)
        series = det.series[0]
        assert series.kwh == (D("0.1"),) * 96
        assert det.import_kwh == {"all": D("9.6")}
        if lost:
            assert series.flags[29:31] == (Flag.ESTIMATED,) * 2
        else:
            assert set(series.flags) == {Flag.ACTUAL} and det.findings == ()
