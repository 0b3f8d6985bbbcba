"""One export run: the items of a billing period written in one format, atomically, then the
manifest.

File names: `<site>-<period>-<format>.csv|.xml` (CSV, CIM, ESPI); NEM12 uses the name AEMO's MDFF
specification asks for, `NEM12#<site><yyyymm>#<from>#<to>.csv`. The manifest is always
`<site>-<period>-<format>.manifest.json`. Items are written in meter id order, and nothing in a
file depends on the wall clock, so a re-run for the same data gives byte-identical files.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import get_args

from billing.export import cim, csv_file, espi, nem12
from billing.export.atomic import (
    Format,
    Manifest,
    ManifestFile,
    atomic_writer,
    clean_stale_partials,
    remove_file,
    write_manifest,
)
from billing.export.model import ExportError, ExportItem, ExportSite
from billing.period import BillingPeriod

FORMATS: tuple[str, ...] = get_args(Format)

# Progress hook: called with "item" after each meter is written and "manifest" just before the
# manifest (the kill test stops a run at a known point with it).
Hook = Callable[[str], None]


def _in_order(items: Iterable[ExportItem], allowed: set[str]) -> Iterator[ExportItem]:
    last = ""
    for item in items:
        if item.meter_id not in allowed:
            raise ExportError(f"meter {item.meter_id}: not among the meters to export")
        if item.meter_id <= last:
            raise ExportError(f"meter {item.meter_id}: given twice or out of order")
        last = item.meter_id
        yield item


def stem(site: ExportSite, period: BillingPeriod, fmt: str) -> str:
    return f"{site.name}-{period.name}-{fmt}"


def data_file_name(site: ExportSite, period: BillingPeriod, fmt: str) -> str:
    if fmt == "nem12":
        return nem12.file_name(site, period)
    return f"{stem(site, period, fmt)}.{'csv' if fmt == 'csv' else 'xml'}"


def manifest_name(site: ExportSite, period: BillingPeriod, fmt: str) -> str:
    return f"{stem(site, period, fmt)}.manifest.json"


def write_export(
    items: Iterable[ExportItem],
    *,
    period: BillingPeriod,
    fmt: str,
    out_dir: Path,
    site: ExportSite,
    hook: Hook | None = None,
    meter_ids: Sequence[str] | None = None,
    not_exported: Mapping[str, str] | None = None,
) -> Manifest:
    """Write the export file of `items` and its manifest into `out_dir`; returns the manifest.

    ExportError (nothing written) for an unknown format, a duplicate meter, a meter without an
    NMI (NEM12) or interval data NEM12 cannot carry.

    `meter_ids` given: `items` are streamed, never held at once (a fleet's month of intervals
    does not fit in memory); they must come in meter id order, each of `meter_ids` (which name
    the NMIs up front) at most once. Otherwise the items are sorted here. `not_exported`:
    meters the caller could not make an item for (read when the manifest is written, so the
    caller may fill it while the items stream), listed in the manifest's `left_out`.
    """
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    written: list[str] = []
    left_out: list[str] = []
    ordered: Iterable[ExportItem]
    if meter_ids is None:
        listed = sorted(items, key=lambda item: item.meter_id)
        for before, after in itertools.pairwise(listed):
            if before.meter_id == after.meter_id:
                raise ExportError(f"meter {after.meter_id}: given twice")
        if fmt == "nem12":
            nem12.check_items(listed, period)
        ordered, meter_ids = listed, [item.meter_id for item in listed]
    else:
        ordered = _in_order(items, set(meter_ids))
    nmis: dict[str, str] = {}
    if fmt == "nem12":
        nmis = site.nmis(sorted(meter_ids))

    def noted(source: Iterable[ExportItem]) -> Iterator[ExportItem]:
        for item in source:
            written.append(item.meter_id)
            if fmt == "nem12" and not nem12.streams_of(item):
                left_out.append(item.meter_id)
            yield item

    ordered = noted(ordered)

    out_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_partials(out_dir)
    manifest_path = out_dir / manifest_name(site, period, fmt)
    remove_file(manifest_path)  # the old manifest must not vouch for files being replaced

    def on_item(_: int) -> None:
        if hook is not None:
            hook("item")

    name = data_file_name(site, period, fmt)
    with atomic_writer(out_dir / name) as sink:
        if fmt == "csv":
            records = csv_file.write_csv(ordered, sink, on_item)
        elif fmt == "nem12":
            records = nem12.write_nem12(ordered, sink, period, site, nmis, on_item)
        elif fmt == "cim":
            records = cim.write_cim(ordered, sink, period, site, on_item)
        else:
            records = espi.write_espi(ordered, sink, period, site, on_item)
    manifest = Manifest(
        files=[ManifestFile(name=name, sha256=sink.sha256, bytes=sink.bytes, records=records)],
        period=period.name,
        period_start=period.start,
        period_end=period.end,
        format=fmt,  # type: ignore[arg-type]
        meters=len(written),
        left_out=sorted({*left_out, *(not_exported or {})}),
        generator=site.generator,
        version=site.version,
    )
    if hook is not None:
        hook("manifest")
    write_manifest(manifest_path, manifest)
    return manifest
