"""Hand-worked bills, to the cent; the working is written beside each case."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from billing.bill.compute import compute_bill
from billing.determinants.model import Determinants
from billing.period import BillingPeriod
from billing.vee.model import RULE_BOUNDARY, Flag, IntervalSeries, RegisterRead
from tests.billing.bill.bill_rig import det, example, kwh, tariff_from_text
from tests.billing.tariff_texts import THREE_TIERS

COMBO = (
    """
id = "combo"
timezone = "Asia/Shanghai"
tier_basis = "year"
tier_mode = "adder"

[money]
currency = "CNY"

[periods]
weekday = [
    { period = "valley", start = "23:00", end = "07:00" },
    { period = "flat", start = "07:00", end = "10:00" },
    { period = "peak", start = "10:00", end = "18:00" },
    { period = "sharp", start = "18:00", end = "20:00" },
    { period = "flat", start = "20:00", end = "23:00" },
]

[rates]
sharp = 1.0200
peak = 0.8500
flat = 0.6000
valley = 0.3000
"""
    + THREE_TIERS
    + """
[demand]
rate = 30.00

[[fixed]]
name = "Meter service"
per = "day"
rate = 0.50

[[fixed]]
name = "Network"
per = "month"
rate = 10.00

[export]
mode = "net-metering"
excess = "credit"
"""
)


def test_tou_annual_tiers_demand_net_metering_and_fixed_charges(tmp_path: Path) -> None:
    tariff = tariff_from_text(tmp_path, COMBO)
    period = BillingPeriod.month("2026-10", "Asia/Shanghai")  # 31 days
    d = det(
        period.start,
        period.end,
        kwh(sharp="50.000", peak="180.500", flat="220.250", valley="310.125"),
        kwh(sharp="0", peak="30.000", flat="240.000", valley="0"),
        source="intervals",
        max_demand_kw="7.25",
        tier_prior_kwh="2500",
    )
    bill = compute_bill(tariff, d, period)
    got = [(line.kind, line.tariff_period, str(line.amount)) for line in bill.lines]
    assert got == [
        # net per period at the import rate (half-up to the fen):
        # sharp  50.000 - 0       =  50.000 x 1.02 =  51.0000  ->  51.00
        ("net", "sharp", "51.00"),
        # peak  180.500 - 30.000  = 150.500 x 0.85 = 127.9250  -> 127.93
        ("net", "peak", "127.93"),
        # flat  220.250 - 240.000 = -19.750 x 0.60 = -11.8500  -> -11.85 (excess credited)
        ("net", "flat", "-11.85"),
        # valley 310.125 - 0      = 310.125 x 0.30 =  93.0375  ->  93.04
        ("net", "valley", "93.04"),
        # tiers on the positive net: 50 + 150.5 + 310.125 = 510.625 kWh, from 2500 kWh already
        # billed this year: 2500..2760 = 260 kWh at +0 -> 0.00;
        ("tier", "tier-1", "0.00"),
        # 2760..3010.625 = 250.625 kWh at +0.05 = 12.53125 -> 12.53
        ("tier", "tier-2", "12.53"),
        # demand 7.25 kW x 30.00 = 217.50
        ("demand", None, "217.50"),
        # 31 days x 0.50 = 15.50
        ("fixed", None, "15.50"),
        # a full month: 10.00
        ("fixed", None, "10.00"),
    ]
    # 51.00 + 127.93 - 11.85 + 93.04 + 0.00 + 12.53 + 217.50 + 15.50 + 10.00 = 515.65
    assert bill.total == Decimal("515.65")
    assert bill.currency == "CNY"
    assert bill.import_kwh == Decimal("760.875")  # 50 + 180.5 + 220.25 + 310.125
    assert bill.export_kwh == Decimal("270.000")
    assert bill.lines[5].quantity == Decimal("250.625")
    assert "import 220.250 - export 240.000 = -19.750 kWh" in bill.lines[2].description
    assert "credited at 0.6000 CNY/kWh" in bill.lines[2].description


def test_net_export_not_credited_when_the_tariff_says_zero(tmp_path: Path) -> None:
    tariff = tariff_from_text(tmp_path, COMBO.replace('excess = "credit"', 'excess = "zero"'))
    period = BillingPeriod.month("2026-10", "Asia/Shanghai")
    d = det(
        period.start,
        period.end,
        kwh(sharp="0", peak="0", flat="100.000", valley="0"),
        kwh(sharp="0", peak="0", flat="150.000", valley="0"),
        source="intervals",
        max_demand_kw="0",
    )
    bill = compute_bill(tariff, d, period)
    flat = next(line for line in bill.lines if line.tariff_period == "flat")
    # 100 - 150 = -50 kWh: a net export gives nothing under excess = "zero"
    assert (flat.quantity, flat.amount) == (Decimal("-50.000"), Decimal("0.00"))
    assert "not credited" in flat.description
    # no positive net energy: no tier lines; 31 x 0.50 + 10.00 = 25.50, demand 0
    assert [line.kind for line in bill.lines if line.kind == "tier"] == []
    assert bill.total == Decimal("25.50")


def test_net_billing_credits_export_at_its_own_rate() -> None:
    tariff = example("pv-net-billing")  # 0.2890 import, 0.0810 export, 0.61/day
    period = BillingPeriod.month("2026-10", "Europe/Amsterdam")  # 31 days
    d = det(period.start, period.end, kwh(all="350.400"), {"all": Decimal("420.750")})
    bill = compute_bill(tariff, d, period)
    assert [(line.kind, str(line.amount)) for line in bill.lines] == [
        ("energy", "101.27"),  # 350.400 x 0.2890 = 101.2656 -> 101.27
        ("export", "-34.08"),  # 420.750 x 0.0810 = 34.08075 -> credit -34.08
        ("fixed", "18.91"),  # 31 x 0.61 = 18.91
    ]
    assert bill.total == Decimal("86.10")  # 101.27 - 34.08 + 18.91
    assert bill.export_kwh == Decimal("420.750")


def test_flat_tariff_with_daily_charge() -> None:
    tariff = example("flat-daily")  # 0.3120 per kWh, 0.3950 per day, half-up
    period = BillingPeriod.month("2026-10", "Europe/Berlin")  # 31 days (one of 25 hours)
    bill = compute_bill(tariff, det(period.start, period.end, kwh(all="287.345")), period)
    assert [str(line.amount) for line in bill.lines] == [
        "89.65",  # 287.345 x 0.3120 = 89.651640 -> 89.65
        "12.25",  # 31 x 0.3950 = 12.2450 -> 12.25 (half-up)
    ]
    assert bill.total == Decimal("101.90")
    assert bill.lines[1].quantity == Decimal(31)
    assert bill.lines[0].description == "Energy, all: 287.345 kWh at 0.3120 EUR/kWh"


def test_monthly_tiers_as_the_price() -> None:
    tariff = example("cn-residential-tiered")  # 0-230 0.5283, 230-400 0.5783, above 0.8283
    period = BillingPeriod.month("2026-11", "Asia/Shanghai")  # 30 days
    d = det(period.start, period.end, kwh(all="512.500"), tier_prior_kwh="9999")
    bill = compute_bill(tariff, d, period)
    assert [(line.kind, line.quantity, str(line.amount)) for line in bill.lines] == [
        ("tier", Decimal("230"), "121.51"),  # 230 x 0.5283 = 121.5090 -> 121.51
        ("tier", Decimal("170"), "98.31"),  # 400 - 230 = 170 x 0.5783 = 98.3110 -> 98.31
        ("tier", Decimal("112.500"), "93.18"),  # 512.5 - 400 = 112.5 x 0.8283 = 93.18375 -> 93.18
    ]
    # monthly tiers start from zero whatever the tier year holds (tier_prior_kwh unused)
    assert bill.total == Decimal("313.00")


def test_month_to_date_prorates_monthly_charges_and_monthly_tier_blocks(tmp_path: Path) -> None:
    tariff = tariff_from_text(
        tmp_path,
        """
        id = "mtd"
        tier_basis = "month"
        [money]
        currency = "EUR"
        [rates]
        all = 0.2000
        [[tiers]]
        up_to_kwh = 310
        rate = 0
        [[tiers]]
        rate = 0.1000
        [demand]
        rate = 12.40
        [[fixed]]
        name = "Standing charge"
        per = "day"
        rate = 0.30
        [[fixed]]
        name = "Metering"
        per = "month"
        rate = 9.30
        """,
    )
    period = BillingPeriod.month("2026-10", "UTC")  # 31 days
    day_11 = datetime(2026, 10, 11, tzinfo=UTC)  # the first 10 days: share 10/31
    d = det(period.start, day_11, kwh(all="150"), source="intervals", max_demand_kw="5")
    bill = compute_bill(tariff, d, period)
    assert [(line.kind, str(line.amount)) for line in bill.lines] == [
        ("energy", "30.00"),  # 150 x 0.20
        # tier block prorated: 310 x 10/31 = 100 kWh at +0, the other 50 kWh at +0.10 = 5.00
        ("tier", "0.00"),
        ("tier", "5.00"),
        ("demand", "20.00"),  # 5 kW x 12.40 x 10/31 = 20.00
        ("fixed", "3.00"),  # 10 days x 0.30
        ("fixed", "3.00"),  # 9.30 x 10/31 = 3.00
    ]
    assert bill.total == Decimal("61.00")
    assert bill.lines[1].quantity == Decimal("100.000")
    assert bill.period_start == period.start and bill.period_end == day_11
    assert any("10 of 31 days" in note for note in bill.notes)

    # the full month gives the full charges: limit 310, 31 days, a whole month
    full = compute_bill(
        tariff, det(period.start, period.end, kwh(all="400"), max_demand_kw="5"), period
    )
    assert [str(line.amount) for line in full.lines] == [
        "80.00",  # 400 x 0.20
        "0.00",  # 310 kWh at +0
        "9.00",  # 90 kWh x 0.10
        "62.00",  # 5 x 12.40
        "9.30",  # 31 x 0.30
        "9.30",  # one month
    ]
    assert not full.notes


def test_part_of_a_daylight_saving_day_counts_by_its_local_length(tmp_path: Path) -> None:
    tariff = tariff_from_text(
        tmp_path,
        """
        id = "berlin-monthly"
        timezone = "Europe/Berlin"
        [money]
        currency = "EUR"
        [rates]
        all = 0
        [[fixed]]
        name = "Metering"
        per = "month"
        rate = 31.00
        """,
    )
    period = BillingPeriod.month("2026-10", "Europe/Berlin")
    # 2026-10-25 is 25 hours long in Berlin (22:00 UTC on the 24th to 23:00 UTC on the 25th);
    # covering its first 10 hours is 10/25 of a day: 31.00 x (10/25) / 31 = 0.40
    start = datetime(2026, 10, 24, 22, tzinfo=UTC)
    d = det(start, start + timedelta(hours=10), kwh(all="0"))
    bill = compute_bill(tariff, d, period)
    assert bill.lines[-1].amount == Decimal("0.40")


def test_each_line_is_rounded_and_the_total_is_the_sum_of_rounded_lines(tmp_path: Path) -> None:
    text = """
    id = "tiny"
    [money]
    currency = "EUR"
    rounding = "ROUNDING"
    [periods]
    weekday = [
        { period = "a", start = "00:00", end = "08:00" },
        { period = "b", start = "08:00", end = "16:00" },
        { period = "c", start = "16:00", end = "24:00" },
    ]
    [rates]
    a = 0.005
    b = 0.005
    c = 0.015
    """
    period = BillingPeriod.month("2026-10")
    d = det(period.start, period.end, kwh(a="1", b="1", c="1"))
    expected = {
        # lines 0.005, 0.005, 0.015; the unrounded sum 0.025 would round to 0.03 / 0.02
        "half-up": (["0.01", "0.01", "0.02"], "0.04"),
        "half-even": (["0.00", "0.00", "0.02"], "0.02"),
        "down": (["0.00", "0.00", "0.01"], "0.01"),
        "up": (["0.01", "0.01", "0.02"], "0.04"),
    }
    for rule, (lines, total) in expected.items():
        tariff = tariff_from_text(tmp_path, text.replace("ROUNDING", rule), f"{rule}.toml")
        bill = compute_bill(tariff, d, period)
        assert [str(line.amount) for line in bill.lines] == lines, rule
        assert str(bill.total) == total, rule


def test_demand_in_named_periods_comes_from_the_import_series() -> None:
    tariff = example("commercial-demand")  # winter-peak weekdays 07-21 Berlin, 13.40/kW
    period = BillingPeriod.month("2026-10", "Europe/Berlin")
    slots = int((period.end - period.start) / timedelta(minutes=15))
    assert slots == 2980  # 31 days, one of them 25 hours long
    values = [Decimal("0.5")] * slots

    def slot(local: datetime) -> int:
        return int((local.astimezone(UTC) - period.start) / timedelta(minutes=15))

    berlin = period.zone
    # 3.0 kWh in 15 min = 12 kW on Saturday 2026-10-03 (a holiday anyway): off-peak, not counted
    values[slot(datetime(2026, 10, 3, 12, 0, tzinfo=berlin))] = Decimal("3.0")
    # 2.2 kWh = 8.8 kW on Tuesday 2026-10-06 10:00 local: winter-peak, the demand billed
    values[slot(datetime(2026, 10, 6, 10, 0, tzinfo=berlin))] = Decimal("2.2")
    # 2.6 kWh = 10.4 kW on Tuesday at 21:00 local: off-peak starts at 21:00, not counted
    values[slot(datetime(2026, 10, 6, 21, 0, tzinfo=berlin))] = Decimal("2.6")
    series = IntervalSeries(
        meter_id="c-1",
        obis="1.0.1.8.0.255",
        start=period.start,
        interval=timedelta(minutes=15),
        kwh=tuple(values),
        raw=tuple(values),
        flags=(Flag.ACTUAL,) * slots,
        rules=("",) * slots,
    )
    d = Determinants(
        meter_id="c-1",
        period_start=period.start,
        period_end=period.end,
        source="intervals",
        import_kwh=kwh(**{"winter-peak": "1000", "offpeak": "500"}),
        export_kwh={},
        max_demand_kw=Decimal("12"),
        series=(series,),
    )
    bill = compute_bill(tariff, d, period)
    assert [(line.kind, str(line.amount)) for line in bill.lines] == [
        ("energy", "268.00"),  # winter-peak 1000 x 0.2680
        ("energy", "86.00"),  # offpeak 500 x 0.1720 (no summer-peak line in October)
        ("demand", "117.92"),  # 8.8 kW x 13.40 = 117.92
        ("fixed", "28.50"),  # the monthly service charge
    ]
    assert bill.total == Decimal("500.42")
    assert bill.lines[2].quantity == Decimal("8.800")
    assert "2026-10-06T08:00:00+00:00" in bill.lines[2].description  # 10:00 CEST


def test_quality_notes_source_and_a_deterministic_bill_id() -> None:
    tariff = example("sim-tou")
    period = BillingPeriod.month("2026-10")
    estimated = RegisterRead(
        "s-1", "1.0.1.8.1.255", period.end, Decimal("10"), None, Flag.ESTIMATED, RULE_BOUNDARY
    )
    d = Determinants(
        meter_id="s-1",
        period_start=period.start,
        period_end=period.end,
        source="registers",
        import_kwh=kwh(night="100", day="80", peak="40", shoulder="20"),
        export_kwh={},
        end_reads=(estimated,),
        estimated_kwh=Decimal("3.5"),
        notes=("meter replaced 2026-10-14 09:30",),
    )
    bill = compute_bill(tariff, d, period)
    # night 100 x 0.1850 = 18.50; day 80 x 0.2790 = 22.32; peak 40 x 0.3640 = 14.56;
    # shoulder 20 x 0.2460 = 4.92; standing 31 x 0.42 = 13.02; total 73.32
    assert bill.total == Decimal("73.32")
    assert bill.quality == "estimated" and bill.source == "registers"
    assert bill.notes == ["meter replaced 2026-10-14 09:30"]
    assert bill.estimated_kwh == Decimal("3.5")
    again = compute_bill(tariff, d, period)
    assert again == bill and again.bill_id == bill.bill_id
    changed = replace(d, import_kwh=kwh(night="101", day="80"))
    assert compute_bill(tariff, changed, period).bill_id != bill.bill_id
    other_meter = replace(d, meter_id="s-2")
    assert compute_bill(tariff, other_meter, period).bill_id != bill.bill_id


def test_determinants_outside_the_period_or_with_unknown_periods_are_refused() -> None:
    tariff = example("sim-tou")
    period = BillingPeriod.month("2026-10")
    with pytest.raises(ValueError, match="'evening'"):
        compute_bill(tariff, det(period.start, period.end, kwh(evening="1")), period)
    with pytest.raises(ValueError, match="not a non-empty part of the period"):
        compute_bill(
            tariff, det(period.start, period.end + timedelta(days=1), kwh(night="1")), period
        )
    with pytest.raises(ValueError, match="time zone"):
        compute_bill(
            tariff,
            det(period.start, period.end, kwh(night="1")),
            BillingPeriod.month("2026-10", "Europe/Berlin"),
        )


def test_demand_at_any_time_from_the_series_or_refused_without_data(tmp_path: Path) -> None:
    tariff = tariff_from_text(
        tmp_path,
        """
        id = "demand-any-time"
        [money]
        currency = "EUR"
        [rates]
        all = 0
        [demand]
        rate = 10.00
        """,
    )
    period = BillingPeriod.month("2026-10")
    slots = 31 * 96
    values = [Decimal("0.25")] * slots
    values[100] = Decimal("1.375")  # 1.375 kWh in 15 minutes = 5.5 kW, the highest
    series = IntervalSeries(
        "d-1",
        "1.0.1.8.0.255",
        period.start,
        timedelta(minutes=15),
        tuple(values),
        tuple(values),
        (Flag.ACTUAL,) * slots,
        ("",) * slots,
    )
    d = replace(det(period.start, period.end, kwh(all="744"), source="intervals"), series=(series,))
    bill = compute_bill(tariff, d, period)
    demand = bill.lines[-1]
    # no max_demand_kw in the determinants: taken from the series, 5.5 kW x 10.00 = 55.00
    assert (demand.quantity, demand.amount) == (Decimal("5.500"), Decimal("55.00"))
    assert "2026-10-02T01:00:00+00:00" in demand.description  # slot 100 = 25 h after the start
    with pytest.raises(ValueError, match="no maximum demand"):
        compute_bill(tariff, det(period.start, period.end, kwh(all="744")), period)
