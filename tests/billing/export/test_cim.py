"""IEC 61968-9 MeterReadings export: the fleet month parsed back with xml.etree, register reads
and interval values equal to the input, with their ReadingType codes and reading qualities."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from billing.export.cim import reading_type
from billing.export.model import ExportSettings, ExportSite
from billing.export.run import write_export
from tests.billing.export import fleet as f

M = "{http://iec.ch/TC57/2011/MeterReadings#}"
BULK_IMPORT = "0.0.0.1.1.1.12.0.0.0.0.0.0.0.0.3.72.0"
BULK_EXPORT = "0.0.0.1.19.1.12.0.0.0.0.0.0.0.0.3.72.0"
DELTA_IMPORT = "0.0.2.4.1.1.12.0.0.0.0.0.0.0.0.3.72.0"
DELTA_EXPORT = "0.0.2.4.19.1.12.0.0.0.0.0.0.0.0.3.72.0"


def ref(node: ET.Element, path: str) -> str:
    found = node.find(path)
    assert found is not None, path
    return found.get("ref") or ""


def expected_quality(meter: str, index: int) -> tuple[str, str]:
    """IEC 61968-9 ReadingQualityType and comment (the VEE rule) of the fleet's marks."""
    if meter == "M002" and index in f.M002_GAP:
        return ("1.9.0", "linear-interpolation")  # estimated using linear interpolation
    if meter == "M002" and index in f.M002_DAY:
        return ("1.8.0", "average-of-matching-days")  # estimated using reference day
    if meter == "M003" and index in f.M003_OUTAGE:
        return ("1.11.0", "power-outage-zero")  # derived
    if meter == "M003" and index == f.M003_SPIKE:
        return ("1.10.0", "spike; raw 5.000")  # questionable, measured value kept
    if meter == "M004" and index in f.M004_TAIL:
        return ("1.8.0", "average-of-matching-days")
    return ("1.0.0", "")  # valid


def test_reading_type_codes() -> None:
    assert reading_type("1.0.1.8.0.255") == BULK_IMPORT
    assert reading_type("1.0.2.8.0.255") == BULK_EXPORT
    # tariff register 1.8.3: field 12 (TOU) = 3
    assert reading_type("1.0.1.8.3.255") == "0.0.0.1.1.1.12.0.0.0.0.3.0.0.0.3.72.0"
    assert reading_type("1.0.1.8.0.255", interval=f.STEP) == DELTA_IMPORT
    assert reading_type("1.0.2.8.0.255", interval=f.STEP) == DELTA_EXPORT
    assert reading_type("1.0.32.7.0.255") is None  # a voltage: not carried


def test_fleet_month_parses_back(tmp_path: Path) -> None:
    items = {item.meter_id: item for item in f.fleet()}
    site = ExportSite("demo", version="9.9", settings=ExportSettings())
    manifest = write_export(
        list(items.values()), period=f.PERIOD, fmt="cim", out_dir=tmp_path, site=site
    )
    root = ET.parse(tmp_path / manifest.files[0].name).getroot()
    assert root.tag == f"{M}MeterReadings"
    readings = root.findall(f"{M}MeterReading")
    assert [r.findtext(f"{M}Meter/{M}mRID") for r in readings] == sorted(items)
    assert manifest.files[0].records == 5

    for element in readings:
        meter = element.findtext(f"{M}Meter/{M}mRID") or ""
        det = items[meter].det
        assert element.findtext(f"{M}valuesInterval/{M}start") == "2026-09-30T14:00:00Z"
        # Register reads: every boundary read, its value, time, code and quality.
        got = [
            (
                r.findtext(f"{M}timeStamp"),
                Decimal(r.findtext(f"{M}value") or ""),
                ref(r, f"{M}ReadingType"),
                ref(r, f"{M}ReadingQualities/{M}ReadingQualityType"),
            )
            for r in element.findall(f"{M}Readings")
        ]
        want = [
            (
                read.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                read.kwh,
                reading_type(read.obis),
                # an estimated read here is a boundary interpolation: linear, 1.9.0
                "1.0.0" if read.flag.value == "actual" else "1.9.0",
            )
            for read in (*det.start_reads, *det.end_reads)
        ]
        assert got == want
        blocks = element.findall(f"{M}IntervalBlocks")
        assert len(blocks) == len(det.series)
        for block, series in zip(blocks, det.series, strict=True):
            code = ref(block, f"{M}ReadingType")
            assert code == (DELTA_IMPORT if series.obis == "1.0.1.8.0.255" else DELTA_EXPORT)
            values = block.findall(f"{M}IntervalReadings")
            assert len(values) == f.COUNT
            for i, value in enumerate(values):
                # CIM stamps an interval reading with the interval's end
                stamp = datetime.fromisoformat(value.findtext(f"{M}timeStamp") or "")
                assert stamp == series.interval_start(i) + f.STEP
                assert Decimal(value.findtext(f"{M}value") or "") == series.kwh[i]
                quality = value.find(f"{M}ReadingQualities")
                assert quality is not None
                got_quality = (
                    ref(quality, f"{M}ReadingQualityType"),
                    quality.findtext(f"{M}comment") or "",
                )
                want_quality = (
                    expected_quality(meter, i) if series.obis == "1.0.1.8.0.255" else ("1.0.0", "")
                )
                assert got_quality == want_quality, (meter, i)
