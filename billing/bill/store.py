"""Bills in the database: a bill with its line items and the VEE findings behind it, stored in one
transaction. Storing the same bill again (same data, same tariff: the same `bill_id`) changes
nothing; a bill for a meter and period that already has another (new readings, a changed tariff)
supersedes it, and both stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from billing.bill.model import Bill
from billing.period import BillingPeriod
from billing.store.database import BillingDb, Session
from billing.vee.model import Finding

_INSERT_BILL = """
INSERT INTO bills (bill_id, meter_id, period, period_start, period_end, tariff_id, currency,
                   total, import_kwh, export_kwh, source, quality, body, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (bill_id) DO NOTHING
"""
_INSERT_LINE = """
INSERT INTO bill_lines (bill_id, line_no, kind, description, tariff_period, quantity, unit, rate,
                        amount)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_INSERT_FINDING = """
INSERT INTO bill_findings (bill_id, finding_no, obis, rule, span_start, span_end, flag, detail)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""
_SUPERSEDE = """
UPDATE bills SET superseded_by = ?
WHERE meter_id = ? AND period = ? AND bill_id <> ? AND superseded_by IS NULL
"""


def _text(when: datetime) -> str:
    return when.isoformat()


async def save_bills(
    db: BillingDb,
    bills: Sequence[tuple[Bill, Sequence[Finding]]],
    *,
    created_at: datetime,
) -> int:
    """Store bills with their lines and findings in one transaction; returns how many were new."""
    new = 0
    async with db.transaction() as tx:
        for bill, findings in bills:
            if await _save(tx, bill, findings, created_at):
                new += 1
    return new


async def _save(tx: Session, bill: Bill, findings: Sequence[Finding], created_at: datetime) -> bool:
    inserted = await tx.execute(
        _INSERT_BILL,
        (
            bill.bill_id,
            bill.meter_id,
            bill.period,
            _text(bill.period_start),
            _text(bill.period_end),
            bill.tariff_id,
            bill.currency,
            str(bill.total),
            str(bill.import_kwh),
            str(bill.export_kwh),
            bill.source,
            bill.quality,
            bill.model_dump_json(),
            _text(created_at),
        ),
    )
    if not inserted:
        return False
    await tx.executemany(
        _INSERT_LINE,
        [
            (
                bill.bill_id,
                n,
                line.kind,
                line.description,
                line.tariff_period,
                str(line.quantity),
                line.unit,
                str(line.rate),
                str(line.amount),
            )
            for n, line in enumerate(bill.lines)
        ],
    )
    await tx.executemany(
        _INSERT_FINDING,
        [
            (
                bill.bill_id,
                n,
                f.obis,
                f.rule,
                _text(f.start),
                _text(f.end),
                f.flag.value,
                f.detail,
            )
            for n, f in enumerate(findings)
        ],
    )
    await tx.execute(_SUPERSEDE, (bill.bill_id, bill.meter_id, bill.period, bill.bill_id))
    return True


async def current_bills(
    db: BillingDb, period: str, meter_ids: Sequence[str] | None = None
) -> list[Bill]:
    """The bills of a period that nothing supersedes, by meter."""
    rows = await db.fetch(
        "SELECT meter_id, body FROM bills WHERE period = ? AND superseded_by IS NULL "
        "ORDER BY meter_id",
        (period,),
    )
    wanted = None if meter_ids is None else set(meter_ids)
    return [
        Bill.model_validate_json(body) for meter, body in rows if wanted is None or meter in wanted
    ]


async def bill_history(db: BillingDb, meter_id: str) -> list[tuple[Bill, str | None]]:
    """Every bill of a meter (superseded ones too, with what superseded them), oldest first."""
    rows = await db.fetch(
        "SELECT body, superseded_by FROM bills WHERE meter_id = ? ORDER BY period, created_at",
        (meter_id,),
    )
    return [(Bill.model_validate_json(body), superseded) for body, superseded in rows]


async def stored_lines(db: BillingDb, bill_id: str) -> list[tuple[object, ...]]:
    """A bill's line rows as stored (kind, description, tariff period, quantity, unit, rate,
    amount), in order: what a back-office query of the table sees."""
    return await db.fetch(
        "SELECT kind, description, tariff_period, quantity, unit, rate, amount FROM bill_lines "
        "WHERE bill_id = ? ORDER BY line_no",
        (bill_id,),
    )


async def stored_findings(db: BillingDb, bill_id: str) -> list[tuple[object, ...]]:
    return await db.fetch(
        "SELECT obis, rule, span_start, span_end, flag, detail FROM bill_findings "
        "WHERE bill_id = ? ORDER BY finding_no",
        (bill_id,),
    )


async def prior_import(
    db: BillingDb, meter_ids: Sequence[str], period: BillingPeriod
) -> dict[str, Decimal]:
    """Energy each meter's current bills priced in tier blocks in the earlier months of
    `period`'s year (annual tier blocks count from the first month of the year): the tier
    lines' quantities, so net metering counts the net energy its tiers priced."""
    year = period.name[:4]
    rows = await db.fetch(
        "SELECT b.meter_id, l.quantity FROM bills b JOIN bill_lines l ON l.bill_id = b.bill_id "
        "WHERE b.superseded_by IS NULL AND b.period >= ? AND b.period < ? AND l.kind = 'tier'",
        (f"{year}-01", period.name),
    )
    wanted = set(meter_ids)
    sums: dict[str, Decimal] = {}
    for meter, kwh in rows:
        if meter in wanted:
            sums[meter] = sums.get(meter, Decimal(0)) + Decimal(kwh)
    return sums
