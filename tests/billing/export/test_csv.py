"""CSV export: a hand-worked meter row by row, and the fleet month parsed back with the csv
module and checked against the readings and series it was written from."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from billing.bill.model import LineItem
from billing.determinants.model import Determinants
from billing.export.csv_file import COLUMNS
from billing.export.model import EXPORT_OBIS, IMPORT_OBIS, ExportItem, ExportSettings, ExportSite
from billing.export.run import write_export
from billing.vee.model import RULE_BOUNDARY, Flag
from tests.billing.export import fleet as f

START, END = "2026-09-30T14:00:00Z", "2026-10-31T14:00:00Z"  # Brisbane October in UTC


def export(tmp_path: Path, items: list[ExportItem]) -> list[dict[str, str]]:
    site = ExportSite("demo", version="9.9", settings=ExportSettings())
    manifest = write_export(items, period=f.PERIOD, fmt="csv", out_dir=tmp_path, site=site)
    with open(tmp_path / manifest.files[0].name, newline="") as file:
        reader = csv.DictReader(file)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        return list(reader)


def test_hand_worked_meter(tmp_path: Path) -> None:
    meter = "H1"
    p = f.PERIOD
    night, day = "1.0.1.8.1.255", "1.0.1.8.2.255"
    start_reads = (
        f.read(meter, IMPORT_OBIS, p.start, Decimal("1200.500")),
        f.read(meter, night, p.start, Decimal("700.000")),
        f.read(meter, day, p.start, Decimal("500.500")),
        f.read(meter, EXPORT_OBIS, p.start, Decimal("10.000")),
    )
    end_reads = (
        f.read(meter, IMPORT_OBIS, p.end, Decimal("1350.750")),
        f.read(meter, night, p.end, Decimal("790.250")),
        # not read at the boundary: interpolated between neighbouring reads
        f.read(meter, day, p.end, Decimal("560.500"), Flag.ESTIMATED, RULE_BOUNDARY),
        f.read(meter, EXPORT_OBIS, p.end, Decimal("12.500")),
    )
    # night 790.250 - 700.000 = 90.250; day 560.500 - 500.500 = 60.000;
    # total 1350.750 - 1200.500 = 150.250 = 90.250 + 60.000; export 12.500 - 10.000 = 2.500
    imports = {"night": Decimal("90.250"), "day": Decimal("60.000")}
    det = Determinants(
        meter,
        p.start,
        p.end,
        "registers",
        imports,
        {"all": Decimal("2.500")},
        start_reads=start_reads,
        end_reads=end_reads,
    )
    # night 90.250 x 0.1500 = 13.5375 -> 13.54; day 60.000 x 0.2500 = 15.00;
    # export 2.500 x 0.0800 = 0.20 credited; a fixed charge (34.10) is on no energy row
    bill = f.bill(meter, imports, Decimal("2.500"), Flag.ESTIMATED)
    # a tier block adder: 50.250 kWh above the first block at 0.0500 = 2.5125 -> 2.51
    tier = LineItem(
        kind="tier",
        description="Tier 2",
        tariff_period="tier2",
        quantity=Decimal("50.250"),
        unit="kWh",
        rate=Decimal("0.0500"),
        amount=Decimal("2.51"),
    )
    bill = bill.model_copy(update={"lines": [*bill.lines, tier], "total": bill.total + tier.amount})
    item = ExportItem(meter, det, bill, {"night": night, "day": day})
    rows = [list(row.values()) for row in export(tmp_path, [item])]
    # fmt: off
    assert rows == [
        # total import: energy and tier lines, 13.54 + 15.00 + 2.51 = 31.05
        [meter, IMPORT_OBIS, START, END, "1200.500", "1350.750", "150.250", "kWh", "actual",
         "", "31.05", "", "", ""],
        [meter, night, START, END, "700.000", "790.250", "90.250", "kWh", "actual",
         "night", "13.54", "", "", ""],
        # the estimated end read makes the row estimated, naming the rule; nothing was read
        [meter, day, START, END, "500.500", "560.500", "60.000", "kWh", "estimated",
         "day", "15.00", RULE_BOUNDARY, "", ""],
        [meter, EXPORT_OBIS, START, END, "10.000", "12.500", "2.500", "kWh", "actual",
         "", "-0.20", "", "", ""],
    ]
    # fmt: on


def test_fleet_month_parses_back(tmp_path: Path) -> None:
    items = {item.meter_id: item for item in f.fleet()}
    rows = export(tmp_path, list(items.values()))
    by_meter: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        assert (row["period_start"], row["period_end"], row["unit"]) == (START, END, "kWh")
        by_meter.setdefault(row["meter"], []).append(row)
    assert sorted(by_meter) == ["M001", "M002", "M003", "M004", "M005"]

    for meter, item in items.items():
        total = by_meter[meter][0]
        assert total["obis"] == IMPORT_OBIS and total["tariff_period"] == ""
        series_total = item.det.series[0].total()
        assert Decimal(total["consumption"]) == series_total
        if total["start_reading"]:
            advance = Decimal(total["end_reading"]) - Decimal(total["start_reading"])
            assert advance == series_total  # the register advance is the intervals' sum

    # Register meters: a row per tariff register, each end - start = consumption, and the bill's
    # energy line of that period as its amount.
    for meter in ("M001", "M002", "M003"):
        tou_rows = by_meter[meter][1:]
        assert [r["obis"] for r in tou_rows] == [f.REGISTERS[p] for p in f.TOU]
        bill = items[meter].bill
        assert bill is not None
        lines = {line.tariff_period: line.amount for line in bill.lines if line.kind == "energy"}
        for row in tou_rows:
            period = row["tariff_period"]
            advance = Decimal(row["end_reading"]) - Decimal(row["start_reading"])
            assert advance == Decimal(row["consumption"]) == items[meter].det.import_kwh[period]
            assert Decimal(row["amount"]) == lines[period]
        assert Decimal(by_meter[meter][0]["amount"]) == sum(lines.values())

    # Qualities: the worst flag of each row's inputs, with the rules that set them.
    assert by_meter["M001"][0]["quality"] == "actual"
    assert (by_meter["M002"][0]["quality"], by_meter["M002"][0]["rules"]) == (
        "estimated",
        "average-of-matching-days;linear-interpolation",
    )
    # M003 has substituted (outage) and suspect (spike) intervals: suspect is the worse
    assert (by_meter["M003"][0]["quality"], by_meter["M003"][0]["rules"]) == (
        "suspect",
        "power-outage-zero;spike",
    )
    # M004 (PV): TOU split of the total register from intervals, readings empty; export row
    # with its credit; the end reads are estimated.
    m004 = by_meter["M004"]
    assert [(r["obis"], r["tariff_period"]) for r in m004] == [
        (IMPORT_OBIS, ""),
        *((IMPORT_OBIS, p) for p in f.TOU),
        (EXPORT_OBIS, ""),
    ]
    assert all(r["start_reading"] == r["end_reading"] == "" for r in m004[1:5])
    assert sum(Decimal(r["consumption"]) for r in m004[1:5]) == Decimal(m004[0]["consumption"])
    export_row = m004[5]
    exported = items["M004"].det.series[1].total()
    assert Decimal(export_row["consumption"]) == exported
    assert Decimal(export_row["end_reading"]) - Decimal(export_row["start_reading"]) == exported
    assert Decimal(export_row["amount"]) == -f.money(exported * f.EXPORT_RATE)
    assert (export_row["quality"], export_row["rules"]) == ("estimated", RULE_BOUNDARY)
    # M005: flat tariff, no bill: one row, no amount.
    assert len(by_meter["M005"]) == 1 and by_meter["M005"][0]["amount"] == ""
