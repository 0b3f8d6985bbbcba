"""ESPI / Green Button export: every file validates against the NAESB ESPI 3.3 schema (atom.xsd
and usage.xsd, read from ../shared/schemas/espi-3.3, offline), feed and each entry's content, and
parses back to the fleet's values and qualities."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
import xmlschema

from billing.export.espi import _transitions, dst_rule, power_of_ten, scaled
from billing.export.model import ExportSettings, ExportSite
from billing.export.run import write_export
from billing.period import BillingPeriod
from tests.billing.espi_schema import espi_schemas
from tests.billing.export import fleet as f

SCHEMAS = espi_schemas()
A = "{http://www.w3.org/2005/Atom}"
E = "{http://naesb.org/espi}"

pytestmark = pytest.mark.skipif(
    not (SCHEMAS / "usage.xsd").exists(), reason=f"ESPI 3.3 schema folder {SCHEMAS} is absent"
)


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    # usage.xsd imports atom.xsd; xml.xsd (imported by atom.xsd) is xmlschema's bundled copy
    return xmlschema.XMLSchema(str(SCHEMAS.resolve() / "usage.xsd"))


@pytest.fixture(scope="module")
def feed_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("espi")
    site = ExportSite("demo", version="9.9", settings=ExportSettings(nmi=f.NMIS))
    manifest = write_export(f.fleet(), period=f.PERIOD, fmt="espi", out_dir=out, site=site)
    return out / manifest.files[0].name


def validate(schema: xmlschema.XMLSchema, path: Path) -> ET.Element:
    schema.validate(str(path))  # the whole feed, contents included (Atom's xs:any is strict)
    root = ET.parse(path).getroot()
    for entry in root.iter(f"{A}entry"):
        content = entry.find(f"{A}content")
        assert content is not None and len(content) == 1
        schema.validate(ET.ElementTree(content[0]))  # each entry's content on its own
    return root


def entries(root: ET.Element) -> dict[str, ET.Element]:
    """Entries by their self link."""
    result = {}
    for entry in root.iter(f"{A}entry"):
        links = {link.get("rel"): link.get("href") for link in entry.findall(f"{A}link")}
        result[links["self"] or ""] = entry
    return result


def content(entry: ET.Element) -> ET.Element:
    node = entry.find(f"{A}content")
    assert node is not None
    return node[0]


def expected_quality(meter: str, index: int) -> int:
    """ESPI QualityOfReading of the fleet's marks."""
    if meter == "M002" and index in f.M002_GAP:
        return 9  # estimated using linear interpolation
    if meter == "M002" and index in f.M002_DAY:
        return 8  # estimated using reference day
    if meter == "M003" and index in f.M003_OUTAGE:
        return 11  # derived (power outage as zero)
    if meter == "M003" and index == f.M003_SPIKE:
        return 10  # questionable (suspect)
    if meter == "M004" and index in f.M004_TAIL:
        return 8
    return 0  # valid


def test_feed_validates_and_parses_back(schema: xmlschema.XMLSchema, feed_path: Path) -> None:
    root = validate(schema, feed_path)
    by_self = entries(root)
    base = "https://headend.invalid/espi/1_1/resource"
    local = content(by_self[f"{base}/LocalTimeParameters/demo"])
    # Brisbane: UTC+10 all year, no daylight saving (rules disabled: FFFFFFFF).
    assert local.findtext(f"{E}tzOffset") == "36000"
    assert local.findtext(f"{E}dstStartRule") == "FFFFFFFF"
    for item in f.fleet():
        point = f"{base}/RetailCustomer/{item.meter_id}/UsagePoint/{item.meter_id}"
        assert content(by_self[point]).tag == f"{E}UsagePoint"
        for series in item.det.series:
            name = "import" if series.obis == "1.0.1.8.0.255" else "export"
            reading_type = content(by_self[f"{base}/ReadingType/{item.meter_id}-{name}"])
            assert reading_type.findtext(f"{E}flowDirection") == ("1" if name == "import" else "19")
            assert reading_type.findtext(f"{E}intervalLength") == "900"
            assert reading_type.findtext(f"{E}uom") == "72"  # Wh
            multiplier = int(reading_type.findtext(f"{E}powerOfTenMultiplier") or "")
            assert multiplier == 0  # whole Wh values
            blocks = [
                content(e)
                for href, e in sorted(by_self.items())
                if href.startswith(f"{point}/MeterReading/{name}/IntervalBlock/")
            ]
            assert len(blocks) == 31  # a block per local day
            values: list[tuple[int, Decimal, int]] = []
            for block in blocks:
                for reading in block.iter(f"{E}IntervalReading"):
                    start = int(reading.findtext(f"{E}timePeriod/{E}start") or "")
                    wh = Decimal(reading.findtext(f"{E}value") or "")
                    quality = int(reading.findtext(f"{E}ReadingQuality/{E}quality") or "")
                    values.append((start, wh / 1000, quality))
            values.sort()
            assert len(values) == f.COUNT
            for i, (start, kwh, quality) in enumerate(values):
                assert start == int(series.interval_start(i).timestamp())
                assert kwh == series.kwh[i]
                expected = expected_quality(item.meter_id, i) if name == "import" else 0
                assert quality == expected, (item.meter_id, name, i)
        summary = content(by_self[f"{point}/UsageSummary/2026-10"])
        consumption = Decimal(summary.findtext(f"{E}overallConsumptionLastPeriod/{E}value") or "")
        assert consumption / 1000 == item.det.import_total
        mixed = item.meter_id in ("M002", "M003", "M004")
        assert summary.findtext(f"{E}qualityOfReading") == ("13" if mixed else "0")
        if item.bill is None:
            assert summary.find(f"{E}billLastPeriod") is None
        else:
            # hundred-thousandths of the currency: 140.86 AUD -> 14086000; AUD is 36
            bill_value = Decimal(summary.findtext(f"{E}billLastPeriod") or "")
            assert bill_value == item.bill.total * 100000
            assert summary.findtext(f"{E}currency") == "36"


def test_finer_values_choose_a_finer_multiplier(
    schema: xmlschema.XMLSchema, tmp_path: Path
) -> None:
    # 0.0005 kWh = 0.5 Wh: not whole Wh, so 10^-3 Wh (mWh): 500.
    assert power_of_ten([Decimal("1.250"), Decimal("0.0005")]) == -3
    assert scaled(Decimal("0.0005"), -3) == 500
    assert power_of_ten([Decimal("2"), Decimal("1.25")]) == 0  # 1250 Wh, 2000 Wh
    first = f.fleet()[0]
    s = first.det.series[0]
    finer = replace(s, kwh=(Decimal("0.1234"), *s.kwh[1:]))
    item = replace(first, det=replace(first.det, series=(finer,)))
    site = ExportSite("fine", settings=ExportSettings())
    manifest = write_export([item], period=f.PERIOD, fmt="espi", out_dir=tmp_path, site=site)
    root = validate(schema, tmp_path / manifest.files[0].name)
    multiplier = next(root.iter(f"{E}powerOfTenMultiplier")).text
    first_value = next(root.iter(f"{E}IntervalReading")).findtext(f"{E}value")
    assert (multiplier, first_value) == ("-3", "123400")  # 0.1234 kWh = 123.4 Wh = 123400 mWh


def test_daylight_saving_rules_of_sydney() -> None:
    # Sydney 2026: DST starts Sunday 4 October 02:00 AEST, ends Sunday 5 April 03:00 AEDT.
    period = BillingPeriod.month("2026-10", "Australia/Sydney")
    start, end, saving = _transitions(period)
    assert saving == 3600
    # start: seconds 0 | hour 2 << 12 | day 4 << 20 | operator 0 | month 10 << 28 = 0xA0402000
    assert dst_rule(start, period) == "A0402000"
    # end: hour 3 << 12 | day 5 << 20 | month 4 << 28 = 0x40503000
    assert dst_rule(end, period) == "40503000"
