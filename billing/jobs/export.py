"""Exporting a period: every customer meter's stored readings through VEE (the same determinants
the bill is worked from, with the interval series), priced for the formats that carry amounts
(`PRICED`), written in one format by `billing.export.run.write_export`, atomically, with its
manifest.

The store is read batch by batch on the event loop while the writer runs in a worker thread and
takes the items in meter order as they come, so a fleet's month never has to sit in memory at
once (a month of 15-minute import and export is ~6,000 values per meter). A meter that cannot be
worked out is left out of the file and named with the reason; the others are written.
"""

from __future__ import annotations

import asyncio
import queue
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from billing.bill.compute import compute_bill
from billing.config import Billing
from billing.export.atomic import Manifest
from billing.export.model import ExportItem, ExportSite
from billing.export.run import write_export
from billing.jobs import export_parts
from billing.jobs.bill import determinants_batches, tariff_groups
from billing.period import BillingPeriod
from headend.store import Store

# the formats that carry amounts (CSV's amount column, ESPI's usage summary cost): the others
# carry readings only, and a meter whose bill cannot be priced is still exported in them
PRICED = frozenset({"csv", "espi"})


@dataclass
class ExportRun:
    period: str
    fmt: str
    manifest: Manifest | None = None
    failed: dict[str, str] = field(default_factory=dict)
    meters: int = 0
    seconds: float = 0.0


async def _put(
    batches: queue.Queue[list[ExportItem] | None],
    batch: list[ExportItem] | None,
    writer: asyncio.Future[Manifest],
) -> None:
    """Hand a batch (None: the end) to the writer's thread without blocking the event loop;
    a writer that stopped takes nothing more."""
    while not writer.done():
        try:
            await asyncio.to_thread(batches.put, batch, True, 0.2)
            return
        except queue.Full:
            continue


def site_of(billing: Billing) -> ExportSite:
    return ExportSite(name=billing.config.fleet.site.name, settings=billing.settings.export)


async def export_period(
    billing: Billing,
    store: Store,
    period_name: str,
    fmt: str,
    out_dir: Path,
    *,
    meters: Sequence[str] | None = None,
    workers: int = 1,
    database_url: str | None = None,
) -> ExportRun:
    """Write `fmt` for `period_name` into `out_dir`; ExportError (nothing written under a final
    name) when the file cannot be made. `workers` > 1 (with the store's `database_url`): that
    many processes share the meters, for the formats whose parts can be joined
    (`export_parts.py`), when there are enough meters to be worth it."""
    began = time.perf_counter()
    run = ExportRun(period_name, fmt)
    chosen = sorted(billing.customers() if meters is None else meters)
    groups = tariff_groups(billing, chosen)
    # the file's period: the default tariff's month (every tariff of one site should share a zone)
    zone = (billing.default or billing.tariffs[next(iter(groups))]).timezone if groups else "UTC"
    period = BillingPeriod.month(period_name, zone)
    parts = min(workers, len(chosen) // export_parts.MIN_METERS_PER_PART)
    # CSV carries the boundary registers only: quicker in one process than workers start
    if parts > 1 and fmt in export_parts.PARALLEL and database_url is not None:
        site = site_of(billing)
        if fmt == "nem12":
            site.nmis(chosen)  # every NMI once across the parts, or refused before any work

        async def local(share: list[str], part_dir: Path) -> export_parts.PartResult:
            part = await export_period(billing, store, period_name, fmt, part_dir, meters=share)
            assert part.manifest is not None
            result = export_parts.part_result(part.manifest, part.failed, part_dir)
            result.seconds = part.seconds
            return result

        run.manifest, run.failed, run.meters = await export_parts.export_in_parts(
            config=billing.config.path.resolve(),
            database_url=database_url,
            period=period,
            fmt=fmt,
            out_dir=out_dir,
            meters=chosen,
            workers=parts,
            generator=site.generator,
            version=site.version,
            local=local,
        )
        run.seconds = time.perf_counter() - began
        return run
    # batches of items for the writer's thread: two at most wait, so memory stays bounded
    batches: queue.Queue[list[ExportItem] | None] = queue.Queue(maxsize=2)

    def feed() -> Iterator[ExportItem]:
        while (batch := batches.get()) is not None:
            yield from batch

    writer = asyncio.ensure_future(
        asyncio.to_thread(
            write_export,
            feed(),
            period=period,
            fmt=fmt,
            out_dir=out_dir,
            site=site_of(billing),
            meter_ids=chosen,
            not_exported=run.failed,
        )
    )
    # CSV carries registers only: no interval series to build
    intervals = fmt != "csv"
    try:
        step = billing.settings.batch_meters
        tariff_of = {m: billing.tariffs[t] for t, group in groups.items() for m in group}
        for first in range(0, len(chosen), step):
            if writer.done():
                break  # the writer refused: its error is raised below
            chunk = chosen[first : first + step]
            by_tariff: dict[str, list[str]] = {}
            for meter in chunk:
                by_tariff.setdefault(tariff_of[meter].id, []).append(meter)
            made: dict[str, ExportItem] = {}
            for tariff_id, group in by_tariff.items():
                tariff = billing.tariffs[tariff_id]
                dets = await determinants_batches(
                    billing,
                    store,
                    tariff,
                    group,
                    period.start,
                    period.end,
                    failed=run.failed,
                    intervals=intervals,
                )
                for det in dets:
                    bill = None
                    if fmt in PRICED:
                        try:
                            bill = compute_bill(tariff, det, period)
                        except ValueError as exc:
                            run.failed[det.meter_id] = str(exc)
                            continue
                    made[det.meter_id] = ExportItem(det.meter_id, det, bill, tariff.registers)
            batch = [made[m] for m in chunk if m in made]
            run.meters += len(batch)
            await _put(batches, batch, writer)
    finally:
        await _put(batches, None, writer)
    run.manifest = await writer
    run.seconds = time.perf_counter() - began
    return run
