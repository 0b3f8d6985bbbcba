"""Smart payment's tables (billing migration version 2), portable DDL for SQLite and PostgreSQL.

Amounts are TEXT holding a Decimal's exact text; times are ISO 8601 UTC text; days ISO dates.
`prepay_accounts.deducted_through` is the last day deducted (days are deducted in order), so a
round over every account finds the days to deduct without a query per meter.
`prepay_accounts.revision` counts the account's changes: every change takes the row first
(`UPDATE ... SET revision = revision + 1`, which on PostgreSQL locks it, while SQLite's
`BEGIN IMMEDIATE` serialises writers anyway) and numbers its balance-history entry by it, so no
sequence type is needed and two changes of one account never interleave.
"""

from __future__ import annotations

PREPAY_SCHEMA: list[str] = [
    # one row per prepaid meter: balance, the emergency credit owed, and the fee-control state
    # with the command on its way (id, action), why the account is where it is and until when
    """CREATE TABLE prepay_accounts (
        meter_id TEXT PRIMARY KEY,
        currency TEXT NOT NULL,
        balance TEXT NOT NULL,
        emergency_owed TEXT NOT NULL,
        state TEXT NOT NULL,
        relay TEXT NOT NULL,
        pending_command TEXT,
        pending_action TEXT,
        why TEXT NOT NULL,
        until_at TEXT,
        deduct_from TEXT NOT NULL,
        deducted_through TEXT,
        opened_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        revision BIGINT NOT NULL
    )""",
    # a reference is applied (or refused) once, whoever imports it how often
    """CREATE TABLE prepay_payments (
        reference TEXT PRIMARY KEY,
        meter_id TEXT NOT NULL,
        amount TEXT NOT NULL,
        paid_at TEXT NOT NULL,
        received_at TEXT NOT NULL,
        source TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL
    )""",
    "CREATE INDEX prepay_payments_meter ON prepay_payments (meter_id, paid_at)",
    # every change of a balance: when, by how much, the balance after, why and its reference
    """CREATE TABLE prepay_balance_history (
        meter_id TEXT NOT NULL,
        entry BIGINT NOT NULL,
        at TEXT NOT NULL,
        delta TEXT NOT NULL,
        balance_after TEXT NOT NULL,
        emergency_owed_after TEXT NOT NULL,
        cause TEXT NOT NULL,
        reference TEXT NOT NULL,
        PRIMARY KEY (meter_id, entry)
    )""",
    # one deduction per meter and local day
    """CREATE TABLE prepay_deductions (
        meter_id TEXT NOT NULL,
        day TEXT NOT NULL,
        amount TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (meter_id, day)
    )""",
]
