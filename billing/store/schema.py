"""Billing's schema versions, applied by `open_billing_db` in order (never edit a released one).

1: bills with their line items and the VEE findings behind them.
2: smart payment: accounts, payments, balance history, deductions (billing/prepay/schema.py).
"""

from __future__ import annotations

from billing.prepay.schema import PREPAY_SCHEMA
from billing.store.database import Migration

BILLS_SCHEMA = [
    """
    CREATE TABLE bills (
        bill_id       TEXT PRIMARY KEY,  -- deterministic: the same data gives the same id
        meter_id      TEXT NOT NULL,
        period        TEXT NOT NULL,     -- 2026-10
        period_start  TEXT NOT NULL,
        period_end    TEXT NOT NULL,
        tariff_id     TEXT NOT NULL,
        currency      TEXT NOT NULL,
        total         TEXT NOT NULL,     -- Decimal as exact text
        import_kwh    TEXT NOT NULL,
        export_kwh    TEXT NOT NULL,
        source        TEXT NOT NULL,
        quality       TEXT NOT NULL,
        body          TEXT NOT NULL,     -- the Bill as JSON
        created_at    TEXT NOT NULL,     -- when it was first computed
        superseded_by TEXT               -- a later bill of the same meter and period, new data
    )
    """,
    "CREATE INDEX bills_by_meter_period ON bills (meter_id, period)",
    "CREATE INDEX bills_by_period ON bills (period)",
    """
    CREATE TABLE bill_lines (
        bill_id       TEXT NOT NULL,
        line_no       BIGINT NOT NULL,
        kind          TEXT NOT NULL,
        description   TEXT NOT NULL,
        tariff_period TEXT,
        quantity      TEXT NOT NULL,
        unit          TEXT NOT NULL,
        rate          TEXT NOT NULL,
        amount        TEXT NOT NULL,
        PRIMARY KEY (bill_id, line_no)
    )
    """,
    """
    CREATE TABLE bill_findings (
        bill_id    TEXT NOT NULL,
        finding_no BIGINT NOT NULL,
        obis       TEXT NOT NULL,
        rule       TEXT NOT NULL,
        span_start TEXT NOT NULL,
        span_end   TEXT NOT NULL,
        flag       TEXT NOT NULL,
        detail     TEXT NOT NULL,
        PRIMARY KEY (bill_id, finding_no)
    )
    """,
]

MIGRATIONS: list[Migration] = [(1, BILLS_SCHEMA), (2, PREPAY_SCHEMA)]
