"""An export run: file names, the manifest (SHA-256, sizes, records), byte-identical re-runs,
refusals before anything is written, and what a failed run leaves."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from billing.export.atomic import clean_stale_partials
from billing.export.model import ExportError, ExportSettings, ExportSite
from billing.export.run import write_export
from tests.billing.export import fleet as f

SITE = ExportSite("demo", version="9.9", settings=ExportSettings(nmi=f.NMIS))
NAMES = {
    "csv": "demo-2026-10-csv.csv",
    "nem12": "NEM12#demo202610#HEADENDMDP#RETAILER.csv",  # AEMO: NEM12#UniqueID#From#To.csv
    "cim": "demo-2026-10-cim.xml",
    "espi": "demo-2026-10-espi.xml",
}
# Records: CSV rows = M001..M003 5 each (total + 4 registers), M004 6 (total, 4 TOU, export),
# M005 1 = 22; NEM12 300 records = 31 days x 6 streams (5 E1, 1 B1) = 186; CIM 5 MeterReadings;
# ESPI entries = 1 LocalTimeParameters + per meter UsagePoint and UsageSummary (10) + per series
# MeterReading, ReadingType and 31 IntervalBlocks (6 series x 33 = 198) = 209.
RECORDS = {"csv": 22, "nem12": 186, "cim": 5, "espi": 209}


@pytest.mark.parametrize("fmt", ["csv", "nem12", "cim", "espi"])
def test_manifest_and_byte_identical_rerun(tmp_path: Path, fmt: str) -> None:
    items = f.fleet()
    first = write_export(items, period=f.PERIOD, fmt=fmt, out_dir=tmp_path / "a", site=SITE)
    data = (tmp_path / "a" / NAMES[fmt]).read_bytes()
    manifest_path = tmp_path / "a" / f"demo-2026-10-{fmt}.manifest.json"
    stored = json.loads(manifest_path.read_text())
    assert stored == json.loads(first.model_dump_json())
    assert stored["files"] == [
        {
            "name": NAMES[fmt],
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "records": RECORDS[fmt],
        }
    ]
    assert (stored["period"], stored["format"], stored["meters"]) == ("2026-10", fmt, 5)
    assert (stored["generator"], stored["version"]) == ("headend", "9.9")
    # Again, into another directory and with the items in another order: the same bytes.
    second = write_export(items[::-1], period=f.PERIOD, fmt=fmt, out_dir=tmp_path / "b", site=SITE)
    assert (tmp_path / "b" / NAMES[fmt]).read_bytes() == data
    assert second == first
    assert manifest_path.read_bytes() == (tmp_path / "b" / manifest_path.name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        [NAMES[fmt], manifest_path.name]
    )


def test_refusals_write_nothing(tmp_path: Path) -> None:
    items = f.fleet()
    with pytest.raises(ExportError, match="format 'xlsx'"):
        write_export(items, period=f.PERIOD, fmt="xlsx", out_dir=tmp_path, site=SITE)
    with pytest.raises(ExportError, match="meter M002: given twice"):
        write_export([*items, items[1]], period=f.PERIOD, fmt="csv", out_dir=tmp_path, site=SITE)
    assert list(tmp_path.iterdir()) == []


def test_a_failing_run_leaves_no_file_and_no_manifest(tmp_path: Path) -> None:
    items = f.fleet()
    write_export(items, period=f.PERIOD, fmt="nem12", out_dir=tmp_path, site=SITE)
    calls = 0

    def fail_on_third(stage: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("disk gone")

    (tmp_path / NAMES["nem12"]).unlink()
    with pytest.raises(RuntimeError, match="disk gone"):
        write_export(
            items, period=f.PERIOD, fmt="nem12", out_dir=tmp_path, site=SITE, hook=fail_on_third
        )
    # The old manifest went first (it must not vouch for a file being replaced), the temporary
    # was removed, and nothing is under the final name.
    assert list(tmp_path.iterdir()) == []


def test_stale_partials_of_dead_processes_are_cleaned(tmp_path: Path) -> None:
    dead = tmp_path / f".{NAMES['csv']}.partial-999999999"  # no such process
    alive = tmp_path / f".{NAMES['cim']}.partial-{os.getppid()}"  # a live process's temporary
    other = tmp_path / "notes.txt"
    for path in (dead, alive, other):
        path.write_text("x")
    assert clean_stale_partials(tmp_path) == [dead.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, other.name])


def test_streamed_items_and_meters_left_out(tmp_path: Path) -> None:
    # streamed (meter ids given up front, items in id order, never all held) as `headend
    # export` runs it, with a meter the caller could not work out: named in the manifest
    items = sorted(f.fleet(), key=lambda item: item.meter_id)
    ids = [item.meter_id for item in items]
    failed: dict[str, str] = {}

    def stream():  # type: ignore[no-untyped-def]
        yield from items
        failed["M999"] = "no register values stored for the period"  # known only at the end

    manifest = write_export(
        stream(),
        period=f.PERIOD,
        fmt="csv",
        out_dir=tmp_path,
        site=SITE,
        meter_ids=[*ids, "M999"],
        not_exported=failed,
    )
    assert manifest.meters == len(items)
    assert manifest.left_out == ["M999"]
    assert manifest.files[0].records == RECORDS["csv"]
    with pytest.raises(ExportError, match="out of order"):
        write_export(
            reversed(items),
            period=f.PERIOD,
            fmt="csv",
            out_dir=tmp_path / "x",
            site=SITE,
            meter_ids=ids,
        )
