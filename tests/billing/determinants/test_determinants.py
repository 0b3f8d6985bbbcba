"""determinants_for: a clean month from the tariff registers, boundary reads interpolated, a day
from intervals split by the tariff calendar, register rollover, meter replacement (registers and
intervals), export by period or as a whole, and data that cannot give what the tariff needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.determinants.compute import DeterminantsError
from billing.determinants.inputs import Capture, Replacement
from billing.vee.model import RULE_BOUNDARY, RULE_NEGATIVE, RULE_REPLACEMENT, RULE_ROLLOVER, Flag
from tests.billing.determinants.meter_data import (
    DAY1,
    DAY2,
    EXPORT,
    IMPORT,
    SIM_REGISTERS,
    D,
    cumulative,
    run,
)

OCT = datetime(2026, 10, 1, tzinfo=UTC)
NOV = datetime(2026, 11, 1, tzinfo=UTC)


def daily(first: datetime, days: int, base: Decimal, per_day: Decimal) -> list[Capture]:
    """A daily register at 00:00 UTC from `first` for `days` + 1 readings."""
    return [(first + timedelta(days=i), base + per_day * i, "ok") for i in range(days + 1)]


def month_of_registers() -> dict[str, list[Capture]]:
    # daily registers from Sep 30 to Nov 2 (a day of margin each side), per day:
    # night 8, day 10, peak 6, shoulder 2 kWh (total 26); export 0.5 kWh
    first = OCT - timedelta(days=1)
    return {
        "1.0.1.8.1.255": daily(first, 33, D("100.000"), D(8)),
        "1.0.1.8.2.255": daily(first, 33, D("200.000"), D(10)),
        "1.0.1.8.3.255": daily(first, 33, D("300.000"), D(6)),
        "1.0.1.8.4.255": daily(first, 33, D("400.000"), D(2)),
        IMPORT: daily(first, 33, D("1000.000"), D(26)),
        EXPORT: daily(first, 33, D("50.000"), D("0.5")),
    }


def test_clean_month_from_registers() -> None:
    # October has 31 days: night 31 x 8 = 248, day 310, peak 186, shoulder 62 (806 in all);
    # the daily import total is no load profile (1 capture in 96), so nothing is interval data.
    # Export 31 x 0.5 = 15.5 kWh, one figure (no export profile, four tariff periods): "all".
    det = run(month_of_registers(), start=OCT, end=NOV, tariff_registers=SIM_REGISTERS)
    assert det.source == "registers"
    assert det.import_kwh == {"night": D(248), "day": D(310), "peak": D(186), "shoulder": D(62)}
    assert det.import_total == D(806)
    assert det.export_kwh == {"all": D("15.5")}
    assert det.series == () and det.findings == () and det.max_demand_kw is None
    assert det.flag is Flag.ACTUAL and det.estimated_kwh == 0
    starts = {r.obis: r for r in det.start_reads}
    # the night register read 100 + 8 at Oct 1 00:00 (actual: a capture at the boundary)
    assert starts["1.0.1.8.1.255"].kwh == D("108.000") and starts["1.0.1.8.1.255"].raw == D(
        "108.000"
    )
    ends = {r.obis: r for r in det.end_reads}
    assert ends["1.0.1.8.1.255"].kwh == D("356.000") and ends["1.0.1.8.1.255"].flag is Flag.ACTUAL


def test_boundary_without_a_read_is_interpolated() -> None:
    # the reads of Oct 1 00:00 are lost: the start is interpolated between Sep 30 00:00 and
    # Oct 2 00:00 (24 h either side, inside the window): night 100 + 16 x 1/2 = 108.000, the
    # same as the lost read here because the register advances evenly. Estimated, raw None.
    registers = {
        obis: [c for c in captures if c[0] != OCT]
        for obis, captures in month_of_registers().items()
    }
    det = run(registers, start=OCT, end=NOV, tariff_registers=SIM_REGISTERS)
    start_night = next(r for r in det.start_reads if r.obis == "1.0.1.8.1.255")
    assert start_night.kwh == D("108.000") and start_night.raw is None
    assert start_night.flag is Flag.ESTIMATED and start_night.rule == RULE_BOUNDARY
    assert det.import_kwh["night"] == D(248) and det.flag is Flag.ESTIMATED
    # estimated energy: for each tariff register, from the estimated start to the first read
    # after it (Oct 2): 8 + 10 + 6 + 2 = 26 kWh
    assert det.estimated_kwh == D(26)


def test_day_from_intervals_split_by_the_tariff_calendar() -> None:
    # per interval: night 0.1, day 0.2, peak 0.5, shoulder 0.3 kWh. Night 00-07 and 23-24 is
    # 32 intervals = 3.2; day 07-17, 40 x 0.2 = 8.0; peak 17-21, 16 x 0.5 = 8.0; shoulder 21-23,
    # 8 x 0.3 = 2.4; total 21.6. The highest demand is 0.5 kWh in 15 min = 2.0 kW, first at 17:00.
    rate = {"night": D("0.1"), "day": D("0.2"), "peak": D("0.5"), "shoulder": D("0.3")}
    from tests.billing.determinants.meter_data import period_name

    uses = [rate[period_name(DAY1 + timedelta(minutes=15 * i))] for i in range(96)]
    det = run(
        {IMPORT: cumulative(DAY1, D("700.0"), uses)},
        tariff_registers=SIM_REGISTERS,
        needs_intervals=True,
    )
    assert det.source == "intervals"
    assert det.import_kwh == {
        "night": D("3.2"),
        "day": D("8.0"),
        "peak": D("8.0"),
        "shoulder": D("2.4"),
    }
    assert det.max_demand_kw == D("2.0") and det.max_demand_at == DAY1 + timedelta(hours=17)
    assert det.export_kwh == {}


def test_export_profile_split_by_period() -> None:
    # export 0.25 kWh per interval from 09:00 to 15:00 (24 intervals, all in "day"): 6.0 kWh
    uses = [D("0.25") if 36 <= i < 60 else D(0) for i in range(96)]
    det = run(
        {IMPORT: cumulative(DAY1, D("5"), [D("0.1")] * 96), EXPORT: cumulative(DAY1, D("9"), uses)},
        tariff_registers=SIM_REGISTERS,
        needs_intervals=True,
    )
    assert det.export_kwh == {"night": D(0), "day": D("6.00"), "peak": D(0), "shoulder": D(0)}
    assert len(det.series) == 2 and det.findings == ()  # 60 zero intervals: not checked on export


def test_register_rollover_flat_tariff() -> None:
    # a six-digit register reads 999,990.000 at Oct 1 and 25.000 at Nov 1: it rolled over at
    # 1,000,000, so the month used 25 + 1,000,000 - 999,990 = 35 kWh; the reads stay actual.
    registers = {IMPORT: [(OCT, D("999990.000"), "ok"), (NOV, D("25.000"), "ok")]}
    det = run(registers, start=OCT, end=NOV, flat=True)
    assert det.source == "registers" and det.import_kwh == {"all": D("35.000")}
    (finding,) = det.findings
    assert finding.rule == RULE_ROLLOVER and finding.flag is Flag.ACTUAL
    assert "999990.000" in finding.detail and "25.000" in finding.detail
    assert det.flag is Flag.ACTUAL


def test_meter_replacement_from_registers() -> None:
    # old meter 5000.000 at Oct 1; exchanged Oct 15 12:00 with old final 5200.000 and new first
    # 0.500; the new meter reads 180.500 at Nov 1: (5200 - 5000) + (180.5 - 0.5) = 380.000 kWh
    registers = {
        IMPORT: [
            (OCT, D("5000.000"), "ok"),
            (datetime(2026, 10, 15, tzinfo=UTC), D("5190.000"), "ok"),  # old meter
            (datetime(2026, 10, 16, tzinfo=UTC), D("6.500"), "ok"),  # new meter
            (NOV, D("180.500"), "ok"),
        ]
    }
    exchange = Replacement(
        meter_id="m1",
        at=datetime(2026, 10, 15, 12, tzinfo=UTC),
        old_final={IMPORT: D("5200.000")},
        new_first={IMPORT: D("0.500")},
        note="faulty display",
    )
    det = run(registers, start=OCT, end=NOV, flat=True, replacements=[exchange])
    assert det.import_kwh == {"all": D("380.000")}
    assert [f.rule for f in det.findings] == [RULE_REPLACEMENT]
    assert det.notes and "2026-10-15T12:00:00+00:00" in det.notes[0]
    assert "faulty display" in det.notes[0]
    # the end read is what the new meter showed, not the carried-over value
    (end_read,) = det.end_reads
    assert end_read.kwh == D("180.500") and end_read.flag is Flag.ACTUAL
    # another meter's replacement does not apply: the register went from 5000.000 to 180.500,
    # 180.5 - 5000 = -4819.5 kWh, a drop far less than half the modulus: negative, suspect
    other = exchange.model_copy(update={"meter_id": "m2"})
    unexplained = run(registers, start=OCT, end=NOV, flat=True, replacements=[other])
    assert unexplained.import_kwh == {"all": D("-4819.500")}
    assert [f.rule for f in unexplained.findings] == [RULE_NEGATIVE]
    assert unexplained.flag is Flag.SUSPECT


def test_meter_replacement_inside_the_interval_data() -> None:
    # 0.1 kWh per interval. The old meter's last capture is 10:00 (index 40, 104.0); it is
    # exchanged at 10:05 with old final 104.02; the new meter's first reading is 0.00 and its
    # capture at 10:15 reads 0.08. The interval 10:00-10:15 is (104.02 - 104.0) + (0.08 - 0.00)
    # = 0.1, and the day is 96 x 0.1 = 9.6, as measured on both meters.
    old = cumulative(DAY1, D("100.0"), [D("0.1")] * 40)  # 00:00 .. 10:00
    new = cumulative(DAY1 + timedelta(minutes=615), D("0.08"), [D("0.1")] * 55)  # 10:15 .. 24:00
    exchange = Replacement(
        meter_id="m1",
        at=DAY1 + timedelta(minutes=605),
        old_final={IMPORT: D("104.02")},
        new_first={IMPORT: D("0.00")},
    )
    det = run({IMPORT: old + new}, flat=True, needs_intervals=True, replacements=[exchange])
    series = det.series[0]
    assert series.kwh[40] == D("0.10") and set(series.flags) == {Flag.ACTUAL}
    assert det.import_kwh == {"all": D("9.60")}
    assert [f.rule for f in det.findings] == [RULE_REPLACEMENT]


def test_tier_prior_is_passed_through() -> None:
    registers = {IMPORT: [(OCT, D("1"), "ok"), (NOV, D("2"), "ok")]}
    from billing.determinants.compute import determinants_for
    from billing.determinants.inputs import MeterData
    from billing.vee.settings import VeeSettings

    det = determinants_for(
        MeterData("m1", registers),
        start=OCT,
        end=NOV,
        period_of=lambda _at: "all",
        labels=lambda s, i, n: ["all"] * n,
        registers={},
        needs_intervals=False,
        settings=VeeSettings(),
        tier_prior_kwh=D("1234.5"),
    )
    assert det.tier_prior_kwh == D("1234.5") and det.import_kwh == {"all": D(1)}


def test_data_that_cannot_give_the_determinants_is_refused() -> None:
    # a TOU tariff, no peak register reads and no load profile: nothing to split by
    registers = month_of_registers()
    del registers["1.0.1.8.3.255"]
    with pytest.raises(
        DeterminantsError, match=r"meter m1: no boundary read of 1\.0\.1\.8\.3\.255"
    ):
        run(registers, start=OCT, end=NOV, tariff_registers=SIM_REGISTERS)
    # a demand tariff with registers only
    with pytest.raises(DeterminantsError, match="needs interval data"):
        run(
            month_of_registers(),
            start=OCT,
            end=NOV,
            tariff_registers=SIM_REGISTERS,
            needs_intervals=True,
        )
    # four periods and only the total register: it cannot be split
    only_total = {IMPORT: month_of_registers()[IMPORT]}
    with pytest.raises(DeterminantsError, match="no load profile to split"):
        run(only_total, start=OCT, end=NOV)


def test_missing_tariff_register_falls_back_to_intervals() -> None:
    # the day register is missing but the profile is there: energy from intervals, with a note
    registers: dict[str, list[Capture]] = {
        "1.0.1.8.1.255": [(DAY1, D(1), "ok"), (DAY2, D(2), "ok")],
        IMPORT: cumulative(DAY1, D("10"), [D("0.1")] * 96),
    }
    det = run(registers, tariff_registers=SIM_REGISTERS)
    assert det.source == "intervals" and det.import_total == D("9.6")
    assert any("1.0.1.8.2.255" in note for note in det.notes)


def test_columns_give_the_same_determinants_as_tuples() -> None:
    # the same day (a lost capture, a clock-suspect capture, daily tariff registers) given as
    # (time, kWh, quality) tuples and as columns with the flagged qualities: equal determinants
    from billing.determinants.inputs import Columns

    uses = [D("0.1")] * 96
    profile = cumulative(DAY1, D("10"), uses, missing=[20], quality={50: "clock-suspect"})
    tuples = {
        IMPORT: profile,
        "1.0.1.8.1.255": [(DAY1, D(1), "ok"), (DAY2, D("4.2"), "ok")],
        "1.0.1.8.2.255": [(DAY1, D(2), "ok"), (DAY2, D("8.4"), "ok")],
    }
    columns = {
        obis: Columns(
            [c[0] for c in captures],
            [c[1] for c in captures],
            {c[0]: c[2] for c in captures if c[2] != "ok"},
        )
        for obis, captures in tuples.items()
    }
    from_tuples = run(tuples, needs_intervals=True, tariff_registers=SIM_REGISTERS)
    from_columns = run(columns, needs_intervals=True, tariff_registers=SIM_REGISTERS)
    assert from_columns == from_tuples
    # 96 x 0.1 = 9.6; intervals 49 and 50 suspect (the capture at 12:30), 19 and 20 estimated
    assert from_columns.import_total == D("9.6")
    assert from_columns.series[0].flags[49:51] == (Flag.SUSPECT,) * 2
    assert from_columns.series[0].flags[19:21] == (Flag.ESTIMATED,) * 2


def test_boundary_reads_between_daily_registers_take_the_profile_shape() -> None:
    # A local day in UTC+8: [Sep 30 16:00, Oct 1 16:00) UTC. The tariff registers are read at
    # 00:00 UTC (Sep 30, Oct 1, Oct 2), so both boundaries fall between reads. Per interval on
    # Sep 30: night 0.1, day 0.2, peak 0.5, shoulder 0.3 kWh (by UTC hour); Oct 1 uses twice
    # that. The periods' energy inside the local day:
    #   night    Sep 30 23-24 (4 x 0.1 = 0.4) + Oct 1 00-07 (28 x 0.2 = 5.6)  = 6.0
    #   day      Sep 30 16-17 (4 x 0.2 = 0.8) + Oct 1 07-16 (36 x 0.4 = 14.4) = 15.2
    #   peak     Sep 30 17-21 (16 x 0.5)                                      = 8.0
    #   shoulder Sep 30 21-23 (8 x 0.3)                                       = 2.4
    # e.g. the night register's start read: 100 + 3.2 x (2.8 / 3.2) = 102.8 (the profile puts
    # 2.8 of Sep 30's 3.2 night kWh before 16:00); in proportion to time it would be
    # 100 + 3.2 x 16/24 = 102.133, and the night total 5.333 instead of 6.0.
    from tests.billing.determinants.meter_data import period_name

    sep30 = DAY1 - timedelta(days=1)
    base = {"night": D("0.1"), "day": D("0.2"), "peak": D("0.5"), "shoulder": D("0.3")}
    uses = [
        base[period_name(sep30 + timedelta(minutes=15 * i))] * (1 if i < 96 else 2)
        for i in range(192)
    ]
    per_day = {name: [D(0), D(0)] for name in base}
    for i, use in enumerate(uses):
        per_day[period_name(sep30 + timedelta(minutes=15 * i))][i // 96] += use
    starts = {"night": D(100), "day": D(200), "peak": D(300), "shoulder": D(400)}
    registers: dict[str, list[Capture]] = {IMPORT: cumulative(sep30, D("1000"), uses)}
    for name, obis in SIM_REGISTERS.items():
        first, second = per_day[name]
        reads = [starts[name], starts[name] + first, starts[name] + first + second]
        registers[obis] = [(sep30 + timedelta(days=i), v, "ok") for i, v in enumerate(reads)]
    local_start = sep30 + timedelta(hours=16)
    det = run(
        registers,
        start=local_start,
        end=local_start + timedelta(days=1),
        tariff_registers=SIM_REGISTERS,
    )
    assert det.source == "registers"
    assert det.import_kwh == {
        "night": D("6.0"),
        "day": D("15.2"),
        "peak": D("8.0"),
        "shoulder": D("2.4"),
    }
    night = next(r for r in det.start_reads if r.obis == "1.0.1.8.1.255")
    assert night.kwh == D("102.8") and night.rule == RULE_BOUNDARY and night.raw is None
    assert any("shape of the load profile" in note for note in det.notes)
    # the import profile agrees: 0.4 + 5.6 + 0.8 + 14.4 + 8.0 + 2.4 = 31.6
    assert det.series[0].total() == D("31.6")


def test_replacement_record_needs_an_aware_time_and_both_readings() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs a time zone"):
        Replacement(meter_id="m1", at=datetime(2026, 10, 14, 9, 30), old_final={}, new_first={})
    with pytest.raises(ValidationError, match="give both readings"):
        Replacement(
            meter_id="m1",
            at=datetime(2026, 10, 14, 9, 30, tzinfo=UTC),
            old_final={IMPORT: D(1)},
            new_first={},
        )
