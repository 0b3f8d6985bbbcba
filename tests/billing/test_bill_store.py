"""Bills in the database, on SQLite and PostgreSQL: stored with lines and findings in one
transaction, the same bill stored twice is stored once, a new bill for a meter and period
supersedes the old one, and billing's migrations run once however often the database opens."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from billing.bill.model import Bill, LineItem
from billing.bill.store import (
    bill_history,
    current_bills,
    save_bills,
    stored_findings,
    stored_lines,
)
from billing.store.database import BillingDb, open_billing_db
from billing.store.schema import MIGRATIONS
from billing.vee.model import RULE_INTERPOLATE, Finding, Flag

START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 2, 1, tzinfo=UTC)


def bill(bill_id: str, meter: str = "m1", total: str = "12.34") -> Bill:
    line = LineItem(
        kind="energy",
        description="Energy, all, 100.000 kWh at 0.1234",
        tariff_period="all",
        quantity=Decimal("100.000"),
        unit="kWh",
        rate=Decimal("0.1234"),
        amount=Decimal(total),
    )
    return Bill(
        bill_id=bill_id,
        meter_id=meter,
        period="2026-10",
        period_start=START,
        period_end=END,
        tariff_id="flat",
        tariff_digest="d" * 64,
        currency="EUR",
        lines=[line],
        total=Decimal(total),
        import_kwh=Decimal("100.000"),
        export_kwh=Decimal(0),
        source="registers",
        quality="estimated",
        estimated_kwh=Decimal("1.5"),
        notes=["a gap of 45 minutes estimated"],
    )


FINDING = Finding(
    meter_id="m1",
    obis="1.0.1.8.0.255",
    rule=RULE_INTERPOLATE,
    start=datetime(2026, 10, 5, 10, tzinfo=UTC),
    end=datetime(2026, 10, 5, 10, 45, tzinfo=UTC),
    flag=Flag.ESTIMATED,
    detail="3 intervals estimated from the register advance 1.5 kWh",
)


async def test_bill_stored_once_with_lines_and_findings(billing_db: BillingDb) -> None:
    assert await save_bills(billing_db, [(bill("b1"), [FINDING])], created_at=NOW) == 1
    assert await save_bills(billing_db, [(bill("b1"), [FINDING])], created_at=NOW) == 0
    [stored] = await current_bills(billing_db, "2026-10")
    assert stored == bill("b1")  # every Decimal exact, the lines and notes as computed
    assert await stored_lines(billing_db, "b1") == [
        ("energy", "Energy, all, 100.000 kWh at 0.1234", "all", "100.000", "kWh", "0.1234", "12.34")
    ]
    [finding] = await stored_findings(billing_db, "b1")
    assert finding[1] == RULE_INTERPOLATE and finding[4] == "estimated"


async def test_new_data_supersedes_the_bill(billing_db: BillingDb) -> None:
    await save_bills(billing_db, [(bill("b1"), []), (bill("x1", meter="m2"), [])], created_at=NOW)
    await save_bills(billing_db, [(bill("b2", total="13.00"), [])], created_at=NOW)
    current = await current_bills(billing_db, "2026-10")
    assert [(b.meter_id, b.bill_id) for b in current] == [("m1", "b2"), ("m2", "x1")]
    history = await bill_history(billing_db, "m1")
    assert [(b.bill_id, by) for b, by in history] == [("b1", "b2"), ("b2", None)]
    assert await current_bills(billing_db, "2026-10", ["m2"]) == [bill("x1", meter="m2")]


async def test_migrations_once(billing_url: str) -> None:
    for _ in range(2):
        db = await open_billing_db(billing_url, MIGRATIONS)
        try:
            versions = await db.fetch("SELECT version FROM billing_schema ORDER BY version")
        finally:
            await db.close()
    assert versions == [(v,) for v, _ in MIGRATIONS]
