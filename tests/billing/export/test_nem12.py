"""NEM12 export: every file is parsed back with the independent `nemreader` package, and the
values and qualities it reads must be the series' values and the AEMO codes of their VEE flags."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from nemreader import NEMFile

from billing.determinants.model import Determinants
from billing.export.model import IMPORT_OBIS, ExportError, ExportItem, ExportSettings, ExportSite
from billing.export.run import write_export
from billing.period import BillingPeriod
from tests.billing.export import fleet as f


def export(
    tmp_path: Path,
    items: list[ExportItem],
    period: BillingPeriod = f.PERIOD,
    settings: ExportSettings | None = None,
) -> Path:
    site = ExportSite("demo", version="9.9", settings=settings or ExportSettings(nmi=f.NMIS))
    manifest = write_export(items, period=period, fmt="nem12", out_dir=tmp_path, site=site)
    return tmp_path / manifest.files[0].name


def parse(path: Path) -> Any:
    return NEMFile(str(path), strict=True).nem_data()


def expected_quality(meter: str, index: int) -> tuple[str, str, str]:
    """The AEMO quality method, reason code and description the fleet's marks must give."""
    if meter == "M002" and index in f.M002_GAP:
        return ("S17", "0", "linear-interpolation")  # substituted, method 17 linear
    if meter == "M002" and index in f.M002_DAY:
        return ("S15", "0", "average-of-matching-days")  # substituted, 15 average like day
    if meter == "M003" and index in f.M003_OUTAGE:
        return ("F19", "79", "power-outage-zero")  # final substituted, 19 zero, 79 outage
    if meter == "M003" and index == f.M003_SPIKE:
        return ("A", "0", "suspect spike")  # actual, free-text reason
    if meter == "M004" and index in f.M004_TAIL:
        return ("E15", "0", "average-of-matching-days")  # forward estimate: nothing read after
    return ("A", "", "")


def test_fleet_month_parses_back_value_for_value(tmp_path: Path) -> None:
    items = f.fleet()
    data = parse(export(tmp_path, items))
    assert data.header.version_header == "NEM12"
    assert (data.header.from_participant, data.header.to_participant) == ("HEADENDMDP", "RETAILER")
    assert sorted(data.readings) == sorted(f.NMIS.values())
    brisbane = timezone(timedelta(hours=10))
    for item in items:
        nmi = f.NMIS[item.meter_id]
        by_suffix = {"E1": item.det.series[0]}
        if item.meter_id == "M004":
            by_suffix["B1"] = item.det.series[1]  # the PV meter's export stream
        assert sorted(data.readings[nmi]) == sorted(by_suffix)
        for suffix, series in by_suffix.items():
            reads = data.readings[nmi][suffix]
            assert len(reads) == f.COUNT  # 31 days x 96
            for i, reading in enumerate(reads):
                # nemreader gives naive local (NEM, UTC+10) times; 1 Oct 00:00 = 30 Sep 14:00Z
                start = series.interval_start(i).astimezone(brisbane).replace(tzinfo=None)
                assert reading.t_start == start
                assert reading.t_end == start + timedelta(minutes=15)
                assert Decimal(str(reading.read_value)) == series.kwh[i]
                assert reading.uom == "KWH"
                code = expected_quality(item.meter_id, i) if suffix == "E1" else ("A", "", "")
                assert (
                    reading.quality_method,
                    reading.event_code or "",
                    reading.event_desc or "",
                ) == code, (item.meter_id, suffix, i)


def test_mixed_days_use_v_and_400_records_single_quality_days_do_not(tmp_path: Path) -> None:
    lines = export(tmp_path, f.fleet()).read_text().splitlines()
    assert lines[0] == "100,NEM12,202611010000,HEADENDMDP,RETAILER"  # period end in NEM time
    assert lines[-1] == "900"
    stream = None
    days: dict[tuple[str, str], list[str]] = {}
    for line in lines[1:-1]:
        fields = line.split(",")
        if fields[0] == "200":
            stream = fields[1]
        elif fields[0] == "300":
            assert len(fields) == 2 + 96 + 5  # date, 96 values, quality, reason, text, 2 stamps
            days[(stream or "", fields[1])] = [fields[98]]
            last = (stream or "", fields[1])
        elif fields[0] == "400":
            days[last].append(",".join(fields[1:]))
    # 3 Oct, M002: intervals 41-44 (10:00-11:00) interpolated, the rest actual.
    assert days[("QB10000002", "20261003")] == [
        "V",
        "1,40,A,,",
        "41,44,S17,0,linear-interpolation",
        "45,96,A,,",
    ]
    # 10 Oct, M002: the whole day from matching days: one quality in the 300 record, no 400.
    assert days[("QB10000002", "20261010")] == ["S15"]
    # 5 Oct, M003: outage 10:00-12:00 is intervals 41-48.
    assert days[("QB10000003", "20261005")][2] == "41,48,F19,79,power-outage-zero"
    # 7 Oct, M003: the spike at 17:30 is interval 71 (17.5 h x 4 + 1).
    assert days[("QB10000003", "20261007")][2] == "71,71,A,0,suspect spike"
    assert days[("QB10000001", "20261015")] == ["A"]


def test_a_meter_without_nmi_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    nmis = {k: v for k, v in f.NMIS.items() if k != "M003"}
    with pytest.raises(ExportError, match=r"meter M003: no NMI .*nmi\.M003"):
        export(tmp_path, f.fleet(), settings=ExportSettings(nmi=nmis))
    assert list(tmp_path.iterdir()) == []


def test_derived_nmis_are_stable_and_distinct(tmp_path: Path) -> None:
    site = ExportSite("demo", settings=ExportSettings(derive_nmi=True))
    nmis = site.nmis(["M001", "M002", "sim-0001"])
    assert nmis == site.nmis(["M001", "M002", "sim-0001"])
    assert len(set(nmis.values())) == 3
    assert all(len(n) == 10 and n[0] == "H" and n[1:].isdigit() for n in nmis.values())
    # A meter id that is an NMI already is used as it is.
    assert site.nmis(["6102345678"]) == {"6102345678": "6102345678"}


def test_daylight_saving_month_pads_the_partial_day_with_null_intervals(tmp_path: Path) -> None:
    # October 2026 in Sydney: 1 Oct 00:00 AEST (+10) = 30 Sep 14:00Z to 1 Nov 00:00 AEDT (+11)
    # = 31 Oct 13:00Z: 31 x 24 - 1 = 743 hours = 2,972 intervals. NEM12 days are in +10, so
    # 31 Oct runs 30 Oct 14:00Z .. 31 Oct 14:00Z and its last 4 intervals (23:00-24:00 +10)
    # are outside the series: value 0, quality N.
    period = BillingPeriod.month("2026-10", "Australia/Sydney")
    count = 2972
    wh = [100 + i % 7 for i in range(count)]
    series = f.series("M001", IMPORT_OBIS, wh)
    series = type(series)(
        "M001",
        IMPORT_OBIS,
        period.start,
        f.STEP,
        series.kwh,
        series.raw,
        series.flags,
        series.rules,
    )
    det = Determinants(
        "M001", period.start, period.end, "intervals", {"all": series.total()}, {}, series=(series,)
    )
    data = parse(export(tmp_path, [ExportItem("M001", det)], period))
    reads = data.readings["QB10000001"]["E1"]
    assert len(reads) == 31 * 96
    assert [r.quality_method for r in reads[-4:]] == ["N"] * 4
    assert [r.read_value for r in reads[-4:]] == [0.0] * 4
    assert [Decimal(str(r.read_value)) for r in reads[:count]] == list(series.kwh)
    assert {r.quality_method for r in reads[:count]} == {"A"}


def test_a_meter_without_interval_data_is_left_out_and_listed(tmp_path: Path) -> None:
    items = f.fleet()
    registers_only = replace(items[0], det=replace(items[0].det, series=()))  # M001, reads only
    site = ExportSite("demo", settings=ExportSettings(nmi=f.NMIS))
    manifest = write_export(
        [registers_only, *items[1:]], period=f.PERIOD, fmt="nem12", out_dir=tmp_path, site=site
    )
    assert manifest.left_out == ["M001"]
    assert manifest.files[0].records == 31 * 5  # 4 import streams and M004's export stream
    assert "QB10000001" not in parse(tmp_path / manifest.files[0].name).readings


def test_actual_end_readings_are_500_records(tmp_path: Path) -> None:
    items = f.fleet()
    data = parse(export(tmp_path, items))
    for item in items:
        got = data.transactions[f.NMIS[item.meter_id]]
        ends = {r.obis: r for r in item.det.end_reads}
        read = ends.get(IMPORT_OBIS)
        if read is None or read.flag.value != "actual":
            # M004's end reads are estimated and M005 has none: no index read
            assert all(not got[suffix] for suffix in got), item.meter_id
            continue
        # 1 Nov 00:00 +10 (31 Oct 14:00Z): the register's value at the period end
        ((trans_code, order, at, index_read),) = got["E1"]
        assert (trans_code, order, Decimal(index_read)) == ("N", "", read.kwh)
        assert at == "20261101000000"  # nemreader keeps the text
