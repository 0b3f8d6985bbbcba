"""End to end: `headend simulate-month` stores October 2026 for a fleet of six simulated meters
(two with PV) in a SQLite file, `headend bill` bills it on sim-tou, and `headend export` writes
every format with its manifest. Each file is read back with an independent parser (csv, nemreader,
xml.etree, xmlschema for ESPI against the NAESB 3.3 schema) and compared with the readings read
straight from the store and with the bills table. A re-run gives byte-identical files; an export
SIGKILLed mid-write leaves nothing under a final name and the next run completes. The CSV and
NEM12 formats are also exported from a PostgreSQL database (--db).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from nemreader import NEMFile

from tests.billing.export.test_espi import SCHEMAS
from tests.billing.export_fleet import (
    END,
    EXPORT,
    IMPORT,
    INTERVALS,
    PERIOD,
    PV_METERS,
    ROOT,
    SITE,
    START,
    STEP,
    TOU_REGISTERS,
    StoredMonth,
    bill_lines,
    bill_totals,
    headend,
    meter_ids,
    stored_month,
    write_fleet,
)
from tests.postgres_server import PostgresServer

FORMATS = ("csv", "nem12", "cim", "espi")
METERS = meter_ids(6)
# sim-tou's [rates] (EUR/kWh) and its daily standing charge, copied from the tariff file
RATES = {
    "night": Decimal("0.1850"),
    "day": Decimal("0.2790"),
    "peak": Decimal("0.3640"),
    "shoulder": Decimal("0.2460"),
}
STANDING = Decimal("0.4200") * 31  # 13.02 EUR for October's 31 days
CENT = Decimal("0.01")
NAMES = {  # data file names: <site>-<period>-<format>, NEM12 as AEMO's MDFF names it
    "csv": f"{SITE}-{PERIOD}-csv.csv",
    "nem12": f"NEM12#{SITE}202610#HEADENDMDP#RETAILER.csv",
    "cim": f"{SITE}-{PERIOD}-cim.xml",
    "espi": f"{SITE}-{PERIOD}-espi.xml",
}
# Records per format for 6 meters, each keeping import and export (zero without PV):
# CSV: 1.8.0, 1.8.1..4, 2.8.0 = 6 rows a meter = 36; NEM12: 2 streams x 31 days x 6 = 372
# 300 records; CIM: one MeterReading a meter = 6; ESPI: LocalTimeParameters + per meter a
# UsagePoint, 2 MeterReadings, 2 ReadingTypes, 2 x 31 daily IntervalBlocks, a UsageSummary
# (68) = 1 + 6 x 68 = 409 entries.
RECORDS = {"csv": 36, "nem12": 372, "cim": 6, "espi": 409}
CIM = "{http://iec.ch/TC57/2011/MeterReadings#}"
ATOM = "{http://www.w3.org/2005/Atom}"
ESPI = "{http://naesb.org/espi}"


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def export(config: Path, fmt: str, out: Path, *extra: str) -> dict[str, object]:
    status, stdout, stderr = headend(
        "export", "--config", str(config), "--period", PERIOD, "--format", fmt,
        "--out", str(out), "--json", *extra,
    )  # fmt: skip
    assert status == 0, stderr
    result: dict[str, object] = json.loads(stdout)
    assert result["meters"] == len(METERS) and result["failed"] == {}, result
    return result


def manifest_of(out: Path, fmt: str) -> dict[str, Any]:
    """The manifest, checked to vouch for the file: its name, SHA-256 and size."""
    manifest = json.loads((out / f"{SITE}-{PERIOD}-{fmt}.manifest.json").read_text())
    (entry,) = manifest["files"]
    data = (out / NAMES[fmt]).read_bytes()
    assert entry["name"] == NAMES[fmt]
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["bytes"] == len(data)
    assert (manifest["period"], manifest["format"]) == (PERIOD, fmt)
    assert isinstance(manifest, dict)
    return manifest


class Month:
    """The SQLite case: fleet file, stored month, its bills, and the first export of each format."""

    def __init__(self, root: Path) -> None:
        self.config = write_fleet(root / "fleet.toml", len(METERS))
        self.db = root / "site.sqlite3"
        self.out = root / "out"
        status, _, err = headend("simulate-month", "--config", str(self.config), "--month", PERIOD)
        assert status == 0, err
        status, _, err = headend("bill", "--config", str(self.config), "--period", PERIOD)
        assert status == 0, err
        self.stored = stored_month(str(self.db), METERS)
        self.runs = {fmt: export(self.config, fmt, self.out) for fmt in FORMATS}

    def bill_lines(self) -> dict[str, list[tuple[str, str | None, Decimal]]]:
        return bill_lines(self.db)

    def bill_totals(self) -> dict[str, Decimal]:
        return bill_totals(self.db)


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Month:
    return Month(tmp_path_factory.mktemp("e2e"))


def test_the_fleet_has_two_pv_meters(month: Month) -> None:
    exported = {m for m in METERS if month.stored.kwh_at(m, EXPORT, END) > 0}
    assert exported == set(PV_METERS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_written_with_a_manifest_that_vouches_for_it(
    month: Month, fmt: str
) -> None:
    manifest = manifest_of(month.out, fmt)
    (entry,) = manifest["files"]
    assert entry["records"] == RECORDS[fmt]
    assert manifest["meters"] == len(METERS) and manifest["left_out"] == []
    assert month.runs[fmt]["files"] == manifest["files"]


def check_csv(
    path: Path,
    stored: StoredMonth,
    bill_lines: dict[str, list[tuple[str, str | None, Decimal]]] | None,
) -> None:
    """Rows agree with the store at the period boundaries; amounts with sim-tou's rates worked
    by hand and, given the bills table's lines, with those."""
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["meter"], r["obis"]) for r in rows] == [
        (m, obis) for m in METERS for obis in (IMPORT, *TOU_REGISTERS.values(), EXPORT)
    ]
    tou_of = {obis: period for period, obis in TOU_REGISTERS.items()}
    for row in rows:
        meter, obis = row["meter"], row["obis"]
        start = stored.kwh_at(meter, obis, START)
        end = stored.kwh_at(meter, obis, END)
        assert Decimal(row["start_reading"]) == start, row
        assert Decimal(row["end_reading"]) == end, row
        assert Decimal(row["consumption"]) == end - start, row
        assert (row["period_start"], row["period_end"]) == (
            "2026-10-01T00:00:00Z",
            "2026-11-01T00:00:00Z",
        )
        assert (row["unit"], row["quality"], row["rules"]) == ("kWh", "actual", ""), row
        assert row["tariff_period"] == tou_of.get(obis, "")
    by_key = {(r["meter"], r["obis"]): r for r in rows}
    for meter in METERS:
        # each period's energy at its rate, rounded half-up to the cent, e.g. night
        # round(kWh(1.8.1 at 1 Nov) - kWh(1.8.1 at 1 Oct)) x 0.1850)
        expected = {
            period: money(
                (stored.kwh_at(meter, obis, END) - stored.kwh_at(meter, obis, START))
                * RATES[period]
            )
            for period, obis in TOU_REGISTERS.items()
        }
        for period, obis in TOU_REGISTERS.items():
            assert Decimal(by_key[(meter, obis)]["amount"]) == expected[period], (meter, period)
        # the total import row carries all energy lines; the standing charge is on no row
        assert Decimal(by_key[(meter, IMPORT)]["amount"]) == sum(expected.values())
        assert by_key[(meter, EXPORT)]["amount"] == ""  # sim-tou has no export rate
        if bill_lines is None:
            continue
        lines = bill_lines[meter]
        energy = {p: a for kind, p, a in lines if kind == "energy"}
        assert energy == {
            p: Decimal(by_key[(meter, o)]["amount"]) for p, o in TOU_REGISTERS.items()
        }
        assert [(k, a) for k, _, a in lines if k != "energy"] == [("fixed", STANDING)]


def test_csv_agrees_with_the_store_and_the_bills(month: Month) -> None:
    path = month.out / NAMES["csv"]
    check_csv(path, month.stored, month.bill_lines())
    with path.open(newline="") as file:
        imports = {r["meter"]: r["amount"] for r in csv.DictReader(file) if r["obis"] == IMPORT}
    # the stored bill = the energy on the import total row + 31 days' standing charge
    totals = month.bill_totals()
    assert totals == {m: Decimal(imports[m]) + STANDING for m in METERS}


def check_nem12(path: Path, stored: StoredMonth) -> None:
    """nemreader reads each meter's two streams: every interval the stored advance / 1000."""
    data = NEMFile(str(path), strict=True).nem_data()
    assert (data.header.from_participant, data.header.to_participant) == ("HEADENDMDP", "RETAILER")
    meter_of = {nmi: streams["E1"][0].meter_serial_number for nmi, streams in data.readings.items()}
    assert sorted(meter_of.values()) == METERS
    for nmi, meter in meter_of.items():
        assert sorted(data.readings[nmi]) == ["B1", "E1"]
        for suffix, obis in (("E1", IMPORT), ("B1", EXPORT)):
            reads = data.readings[nmi][suffix]
            expected = stored.interval_kwh(meter, obis)
            assert len(reads) == INTERVALS
            for i, reading in enumerate(reads):
                # NEM time of a UTC tariff is UTC: nemreader's naive times are UTC here
                begins = (START + STEP * i).replace(tzinfo=None)
                assert (reading.t_start, reading.t_end) == (begins, begins + STEP)
                assert Decimal(str(reading.read_value)) == expected[i], (meter, suffix, i)
                assert (reading.quality_method, reading.uom) == ("A", "KWH")
                assert reading.meter_serial_number == meter
            # the 500 record: the register at the period end (1 Nov 00:00)
            ((code, _, at, index_read),) = data.transactions[nmi][suffix]
            assert (code, at) == ("N", "20261101000000")
            assert Decimal(index_read) == stored.kwh_at(meter, obis, END)


def test_nem12_parses_with_nemreader_and_agrees_with_the_store(month: Month) -> None:
    check_nem12(month.out / NAMES["nem12"], month.stored)


def reading_type_of(obis: str) -> str:
    """The issue's CIM codes: bulk import kWh 0.0.0.1.1.1.12.0.0.0.0.0.0.0.0.3.72.0, field 12
    the tariff register's number (1.8.T), field 5 flow 19 for export (2.8.0)."""
    flow = 19 if obis == EXPORT else 1
    tou = int(obis.split(".")[4])
    return f"0.0.0.1.{flow}.1.12.0.0.0.0.{tou}.0.0.0.3.72.0"


def test_cim_agrees_with_the_store(month: Month) -> None:
    root = ET.parse(month.out / NAMES["cim"]).getroot()
    assert root.tag == f"{CIM}MeterReadings"
    readings = root.findall(f"{CIM}MeterReading")
    assert [r.findtext(f"{CIM}Meter/{CIM}mRID") for r in readings] == METERS
    stored = month.stored
    for reading in readings:
        meter = reading.findtext(f"{CIM}Meter/{CIM}mRID") or ""
        got: dict[tuple[str, str], Decimal] = {}
        for node in reading.findall(f"{CIM}Readings"):
            code = node.find(f"{CIM}ReadingType")
            quality = node.find(f"{CIM}ReadingQualities/{CIM}ReadingQualityType")
            assert code is not None and quality is not None
            assert quality.get("ref") == "1.0.0"  # valid (actual)
            got[(code.get("ref") or "", node.findtext(f"{CIM}timeStamp") or "")] = Decimal(
                node.findtext(f"{CIM}value") or ""
            )
        expected = {
            (reading_type_of(obis), stamp): stored.kwh_at(meter, obis, at)
            for obis in (IMPORT, *TOU_REGISTERS.values(), EXPORT)
            for stamp, at in (("2026-10-01T00:00:00Z", START), ("2026-11-01T00:00:00Z", END))
        }
        assert got == expected, meter
        blocks = reading.findall(f"{CIM}IntervalBlocks")
        assert len(blocks) == 2
        for block, obis, flow in zip(blocks, (IMPORT, EXPORT), (1, 19), strict=True):
            code = block.find(f"{CIM}ReadingType")
            assert code is not None
            # 15-minute (measuring period 2) delta (4) energy kWh
            assert code.get("ref") == f"0.0.2.4.{flow}.1.12.0.0.0.0.0.0.0.0.3.72.0"
            values = stored.interval_kwh(meter, obis)
            points = block.findall(f"{CIM}IntervalReadings")
            assert len(points) == INTERVALS
            for i, point in enumerate(points):
                # stamped with the interval's end
                assert (
                    point.findtext(f"{CIM}timeStamp")
                    == f"{START + STEP * (i + 1):%Y-%m-%dT%H:%M:%SZ}"
                )
                assert Decimal(point.findtext(f"{CIM}value") or "") == values[i], (meter, obis, i)
                quality = point.find(f"{CIM}ReadingQualities/{CIM}ReadingQualityType")
                assert quality is not None and quality.get("ref") == "1.0.0"


@pytest.mark.skipif(not (SCHEMAS / "usage.xsd").exists(), reason=f"{SCHEMAS} is absent")
def test_espi_validates_and_agrees_with_the_store_and_the_bills(month: Month) -> None:
    path = month.out / NAMES["espi"]
    # the whole feed: Atom's content is validated with it (usage.xsd declares ESPI's elements)
    xmlschema.XMLSchema(str(SCHEMAS.resolve() / "usage.xsd")).validate(str(path))
    root = ET.parse(path).getroot()
    by_link: dict[str, ET.Element] = {}
    for entry in root.iter(f"{ATOM}entry"):
        links = {link.get("rel"): link.get("href") for link in entry.findall(f"{ATOM}link")}
        node = entry.find(f"{ATOM}content")
        assert node is not None and len(node) == 1
        by_link[links["self"] or ""] = node[0]
    base = "https://headend.invalid/espi/1_1/resource"
    totals = month.bill_totals()
    for meter in METERS:
        point = f"{base}/RetailCustomer/{meter}/UsagePoint/{meter}"
        summary = by_link[f"{point}/UsageSummary/{PERIOD}"]
        # money in hundred-thousandths of the currency: the stored bill's total
        assert Decimal(summary.findtext(f"{ESPI}billLastPeriod") or "") == totals[meter] * 100_000
        consumption = summary.find(f"{ESPI}overallConsumptionLastPeriod")
        assert consumption is not None
        power = int(consumption.findtext(f"{ESPI}powerOfTenMultiplier") or "")
        wh = Decimal(consumption.findtext(f"{ESPI}value") or "").scaleb(power)
        assert wh == 1000 * (
            month.stored.kwh_at(meter, IMPORT, END) - month.stored.kwh_at(meter, IMPORT, START)
        )
        for direction, obis in (("import", IMPORT), ("export", EXPORT)):
            kind = by_link[f"{base}/ReadingType/{meter}-{direction}"]
            power = int(kind.findtext(f"{ESPI}powerOfTenMultiplier") or "")
            assert kind.findtext(f"{ESPI}intervalLength") == "900"
            values = month.stored.interval_kwh(meter, obis)
            seen = 0
            for day in range(31):
                begins = START + timedelta(days=day)
                block = by_link[
                    f"{point}/MeterReading/{direction}/IntervalBlock/{int(begins.timestamp())}"
                ]
                for reading in block.findall(f"{ESPI}IntervalReading"):
                    at = int(reading.findtext(f"{ESPI}timePeriod/{ESPI}start") or "")
                    index = (at - int(START.timestamp())) // 900
                    assert index == seen  # in order, none missing
                    value = Decimal(reading.findtext(f"{ESPI}value") or "").scaleb(power)
                    assert value == 1000 * values[index], (meter, direction, index)
                    seen += 1
            assert seen == INTERVALS


def test_a_rerun_gives_byte_identical_files(month: Month) -> None:
    before = {p.name: p.read_bytes() for p in month.out.iterdir()}
    assert len(before) == 2 * len(FORMATS)  # a data file and a manifest each, nothing else
    for fmt in FORMATS:
        export(month.config, fmt, month.out)
    after = {p.name: p.read_bytes() for p in month.out.iterdir()}
    assert after.keys() == before.keys()
    for name, data in before.items():
        assert after[name] == data, name


def test_a_killed_export_leaves_nothing_half_written(tmp_path: Path) -> None:
    # 24 meters of ESPI (~1.1 MB each) fed to the writer two meters at a time: the writer's
    # first 1 MB buffer reaches the disk after the first meter, with ~23 meters still to go
    config = write_fleet(tmp_path / "fleet.toml", 24, batch_meters=2)
    status, _, err = headend("simulate-month", "--config", str(config), "--month", PERIOD)
    assert status == 0, err
    out = tmp_path / "out"
    out.mkdir()
    final = out / NAMES["espi"]
    child = subprocess.Popen(
        [sys.executable, "-m", "headend.cli.main", "export", "--config", str(config),
         "--period", PERIOD, "--format", "espi", "--out", str(out)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    temporary = out / f".{final.name}.partial-{child.pid}"
    try:
        deadline = time.monotonic() + 60
        while not (temporary.exists() and temporary.stat().st_size > 0):
            if child.poll() is not None:
                assert child.stderr is not None
                pytest.fail(f"the export ended before it was stopped: {child.stderr.read()!r}")
            assert time.monotonic() < deadline, "no temporary file appeared"
            time.sleep(0.002)
        os.kill(child.pid, signal.SIGSTOP)  # frozen mid-write, then looked at
        partial = temporary.stat().st_size
        assert sorted(p.name for p in out.iterdir()) == [temporary.name]
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    # Dead: still only its temporary, nothing under the final name, no manifest.
    assert sorted(p.name for p in out.iterdir()) == [temporary.name]
    status, _, err = headend(
        "export", "--config", str(config), "--period", PERIOD, "--format", "espi", "--out", str(out)
    )
    assert status == 0, err
    # The re-run removed the dead process's temporary and wrote the whole file and its manifest.
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [final.name, f"{SITE}-{PERIOD}-espi.manifest.json"]
    )
    manifest = manifest_of(out, "espi")
    assert manifest["meters"] == 24
    data = final.read_bytes()
    assert len(data) > partial and data.endswith(b"</feed>\n")


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


def test_csv_and_nem12_from_postgresql(tmp_path: Path, pg_url: str) -> None:
    config = write_fleet(tmp_path / "fleet.toml", len(METERS))
    status, _, err = headend(
        "simulate-month", "--config", str(config), "--month", PERIOD, "--db", pg_url
    )
    assert status == 0, err
    out = tmp_path / "out"
    for fmt in ("csv", "nem12"):
        export(config, fmt, out, "--db", pg_url)
        manifest_of(out, fmt)
    assert not (tmp_path / "site.sqlite3").exists()  # --db: the site database was never opened
    stored = stored_month(pg_url, METERS)
    check_csv(out / NAMES["csv"], stored, None)
    check_nem12(out / NAMES["nem12"], stored)


def test_a_collection_gap_is_interpolated_and_flagged(tmp_path: Path) -> None:
    # One PV meter; the profile captures of 3 Oct 10:15, 10:30 and 10:45 never arrived (import
    # and export): the quarter-hours 10:00-11:00 are intervals 41-44 of the day (10 h x 4 + 1).
    config = write_fleet(tmp_path / "fleet.toml", 1)
    status, _, err = headend("simulate-month", "--config", str(config), "--month", PERIOD)
    assert status == 0, err
    gap = [datetime(2026, 10, 3, 10, 15 * k, tzinfo=UTC) for k in (1, 2, 3)]
    with sqlite3.connect(tmp_path / "site.sqlite3") as db:
        for at in gap:
            deleted = db.execute(
                "DELETE FROM readings WHERE meter_id = 'gprs-000001' AND obis IN (?, ?) "
                "AND capture_time = ?",
                (IMPORT, EXPORT, at.isoformat(timespec="microseconds")),
            ).rowcount
            assert deleted == 2
    (meter,) = meter_ids(1)
    stored = stored_month(str(tmp_path / "site.sqlite3"), [meter])
    out = tmp_path / "out"
    for fmt in ("nem12", "cim"):
        status, _, err = headend(
            "export", "--config", str(config), "--period", PERIOD, "--format", fmt,
            "--out", str(out),
        )  # fmt: skip
        assert status == 0, err
    first = 2 * 96 + 40  # 3 Oct 10:00, the month's interval index of interval 41 of the day
    estimated = range(first, first + 4)
    data = NEMFile(str(out / NAMES["nem12"]), strict=True).nem_data()
    (streams,) = data.readings.values()
    cim = ET.parse(out / NAMES["cim"]).getroot()
    blocks = cim.findall(f"{CIM}MeterReading/{CIM}IntervalBlocks")
    for suffix, obis, block in zip(("E1", "B1"), (IMPORT, EXPORT), blocks, strict=True):
        values = stored.wh[(meter, obis)]
        # across the gap the register advanced from its 10:00 to its 11:00 value: the four
        # estimates share out exactly that
        advance = (values[gap[-1] + STEP] - values[gap[0] - STEP]) / 1000
        reads = streams[suffix]
        assert sum(Decimal(str(reads[i].read_value)) for i in estimated) == advance
        points = block.findall(f"{CIM}IntervalReadings")
        for i, (reading, point) in enumerate(zip(reads, points, strict=True)):
            quality = point.find(f"{CIM}ReadingQualities/{CIM}ReadingQualityType")
            assert quality is not None
            if i in estimated:
                # NEM12: substituted, method 17 (linear); CIM 1.9.0 estimated by interpolation
                assert (reading.quality_method, reading.event_desc) == (
                    "S17",
                    "linear-interpolation",
                )
                assert quality.get("ref") == "1.9.0"
                assert point.findtext(f"{CIM}ReadingQualities/{CIM}comment") == (
                    "linear-interpolation"
                )
            else:
                at = START + STEP * i
                assert Decimal(str(reading.read_value)) == (values[at + STEP] - values[at]) / 1000
                assert reading.quality_method == "A" and quality.get("ref") == "1.0.0"
            assert Decimal(point.findtext(f"{CIM}value") or "") == Decimal(str(reading.read_value))
    assert advance > 0  # the export stream: PV at 10:00-11:00 UTC, a real share-out
