"""Billing a period: for every customer meter, its stored readings through VEE into determinants,
priced by its tariff into a bill, stored with its line items and the findings behind it.

Meters go in batches (one store read per batch and kind, `billing.batch_meters` meters each); a
meter that cannot be billed (nothing stored, a unit billing cannot convert, determinants that
cannot be worked out) is reported with the reason and the run goes on for everyone else. A bill
re-run for the same data is the same bill (same id: nothing new stored).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from billing.bill.compute import compute_bill
from billing.bill.model import Bill
from billing.bill.store import prior_import, save_bills
from billing.config import Billing
from billing.determinants.compute import determinants_for
from billing.determinants.inputs import MeterData
from billing.determinants.model import Determinants
from billing.meter_data import EXPORT, IMPORT, UnitError, load_batch
from billing.meter_data import GRID as INTERVAL
from billing.period import BillingPeriod
from billing.store.database import BillingDb
from billing.tariff.model import Tariff
from billing.vee.model import Finding, Flag
from headend.store import Store

Loaded = tuple[list[MeterData], int]  # the batch's data, values read


@dataclass
class BillRun:
    """What a run did: bills, what VEE found, meters that could not be billed and why."""

    period: str
    bills: list[Bill] = field(default_factory=list)
    findings: dict[str, tuple[Finding, ...]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    new: int = 0  # bills not stored before
    values_read: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> dict[str, Decimal]:
        """Sum of bill totals per currency."""
        sums: dict[str, Decimal] = defaultdict(Decimal)
        for bill in self.bills:
            sums[bill.currency] += bill.total
        return dict(sums)


def tariff_groups(billing: Billing, meters: Sequence[str]) -> dict[str, list[str]]:
    """Meters by the id of their tariff, in the order given."""
    groups: dict[str, list[str]] = defaultdict(list)
    for meter in meters:
        groups[billing.tariff_of(meter).id].append(meter)
    return dict(groups)


def registers_to_read(tariff: Tariff) -> list[str]:
    return sorted({IMPORT, EXPORT, *tariff.registers.values()})


async def determinants_batches(
    billing: Billing,
    store: Store,
    tariff: Tariff,
    meters: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    priors: Mapping[str, Decimal] | None = None,
    failed: dict[str, str],
    read: list[int] | None = None,
    intervals: bool = False,
) -> list[Determinants]:
    """Determinants of `meters` on `tariff` over [start, end), batch by batch, in the order
    given; a meter that cannot have them is put in `failed` with the reason.

    A tariff that bills from registers reads only the registers at the period's start and end
    first; a meter whose boundary registers are not all there as read is worked out again from
    everything stored (profile, reads around the boundary, estimation). `intervals`
    (exports, and tariffs that need them): everything stored, with the interval series.
    """
    full = intervals or tariff.needs_intervals
    out: list[Determinants] = []
    step = billing.settings.batch_meters

    async def load(chunk: list[str], boundaries_only: bool) -> Loaded:
        return await _load_tolerant(
            billing, store, tariff, chunk, start, end, failed, boundaries_only=boundaries_only
        )

    for first in range(0, len(meters), step):
        chunk = list(meters[first : first + step])
        loaded = await load(chunk, not full)
        dets = _compute(billing, tariff, loaded, start, end, priors, failed, read)
        if not full:
            again = [m for m in chunk if m not in dets or not _clean_registers(dets[m])]
            if again:
                for meter in again:
                    failed.pop(meter, None)
                reloaded = await load(again, False)
                dets.update(_compute(billing, tariff, reloaded, start, end, priors, failed, read))
        out += [dets[m] for m in chunk if m in dets]
    return out


def _clean_registers(det: Determinants) -> bool:
    """Worked out from boundary registers as read: nothing estimated, nothing found."""
    reads = (*det.start_reads, *det.end_reads)
    return (
        det.source == "registers"
        and bool(reads)
        and all(r.flag is Flag.ACTUAL for r in reads)
        and not det.findings
    )


def _compute(
    billing: Billing,
    tariff: Tariff,
    loaded: Loaded,
    start: datetime,
    end: datetime,
    priors: Mapping[str, Decimal] | None,
    failed: dict[str, str],
    read: list[int] | None,
) -> dict[str, Determinants]:
    settings = billing.settings
    calendar = billing.calendar(tariff)
    meters, rows = loaded
    if read is not None:
        read[0] += rows
    out: dict[str, Determinants] = {}
    for data in meters:
        if not data.registers:
            failed[data.meter_id] = "no register values stored for the period"
            continue
        try:
            out[data.meter_id] = determinants_for(
                data,
                start=start,
                end=end,
                period_of=calendar.period_of,
                labels=billing.labels(tariff),
                registers=tariff.registers,
                needs_intervals=tariff.needs_intervals,
                settings=settings.vee,
                replacements=billing.replacements_of(data.meter_id),
                tier_prior_kwh=(priors or {}).get(data.meter_id, Decimal(0)),
            )
        except ValueError as exc:
            failed[data.meter_id] = str(exc)
    return out


async def _load_tolerant(
    billing: Billing,
    store: Store,
    tariff: Tariff,
    chunk: list[str],
    start: datetime,
    end: datetime,
    failed: dict[str, str],
    *,
    boundaries_only: bool,
) -> Loaded:
    """The batch's data; when a meter's unit cannot be converted, meter by meter, so only that
    meter fails (named, with the reason)."""
    vee = billing.settings.vee

    async def load(meters: list[str]) -> tuple[list[MeterData], int]:
        batch = await load_batch(
            store,
            meters,
            registers_to_read(tariff),
            start,
            end,
            history_days=vee.typical_days,
            long_gap=INTERVAL * vee.interpolate_max_intervals,
            boundaries_only=boundaries_only,
        )
        return batch.meters, batch.rows

    try:
        return await load(chunk)
    except UnitError:
        pass
    loaded: list[MeterData] = []
    rows = 0
    for meter in chunk:
        try:
            one, count = await load([meter])
        except UnitError as exc:
            failed[meter] = str(exc)
            continue
        loaded += one
        rows += count
    return loaded, rows


async def bill_period(
    billing: Billing,
    store: Store,
    db: BillingDb,
    period_name: str,
    *,
    meters: Sequence[str] | None = None,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> BillRun:
    """Bill `period_name` (YYYY-MM) for `meters` (default: every customer meter)."""
    began = time.perf_counter()
    run = BillRun(period_name)
    chosen = billing.customers() if meters is None else list(meters)
    read = [0]
    for tariff_id, group in tariff_groups(billing, chosen).items():
        tariff = billing.tariffs[tariff_id]
        period = BillingPeriod.month(period_name, tariff.timezone)
        priors = await prior_import(db, group, period) if tariff.tier_basis == "year" else {}
        step = billing.settings.batch_meters
        for first in range(0, len(group), step):
            chunk = group[first : first + step]
            dets = await determinants_batches(
                billing,
                store,
                tariff,
                chunk,
                period.start,
                period.end,
                priors=priors,
                failed=run.failed,
                read=read,
            )
            bills: list[tuple[Bill, tuple[Finding, ...]]] = []
            for det in dets:
                try:
                    bill = compute_bill(tariff, det, period)
                except ValueError as exc:
                    run.failed[det.meter_id] = str(exc)
                    continue
                bills.append((bill, det.findings))
                run.bills.append(bill)
                run.findings[det.meter_id] = det.findings
            run.new += await save_bills(db, bills, created_at=now)
            if progress is not None:
                progress(len(chunk))
    run.values_read = read[0]
    run.seconds = time.perf_counter() - began
    return run
