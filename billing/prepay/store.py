"""Prepaid accounts on billing's database: open an account, apply a payment, record a day's
deduction, take emergency credit, move the fee-control state; read accounts, payments, history.

Each change is one transaction: the account row taken first (its revision bumped, which
serialises changes of one account on PostgreSQL too), the change computed by `ledger.py` on the
balance as it is then, and the account, its balance-history entry and the payment or deduction
written together. A payment reference is inserted before anything else, with `ON CONFLICT DO
NOTHING`: the one transaction that inserts it applies it (a concurrent import of the same
reference waits for that one and finds it stored), every other gets the stored outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal

from billing.prepay.ledger import (
    Balance,
    Change,
    FeeState,
    LedgerRefusal,
    apply_deduction,
    apply_payment,
    take_emergency_credit,
)
from billing.prepay.settings import PrepaySettings
from billing.store.database import BillingDb, Row, Session

Relay = Literal["connected", "disconnected", "armed"]
PaymentOutcome = Literal["applied", "duplicate", "refused"]


@dataclass(frozen=True, slots=True)
class Account:
    meter_id: str
    currency: str
    balance: Decimal
    emergency_owed: Decimal
    state: FeeState
    relay: str  # what fee control last made of the supply: connected, disconnected, armed
    pending_command: str | None
    pending_action: str | None
    why: str
    until: datetime | None
    deduct_from: date
    deducted_through: date | None  # the last day deducted
    opened_at: datetime
    updated_at: datetime
    revision: int

    @property
    def funds(self) -> Balance:
        return Balance(self.balance, self.emergency_owed)


@dataclass(frozen=True, slots=True)
class Payment:
    """A payment as received: meter, amount, the back-office reference, when it was paid."""

    meter_id: str
    amount: Decimal
    reference: str
    paid_at: datetime
    source: str = "cli"


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """`applied` (now), `duplicate` (the reference was seen before: `detail` says how it went
    then) or `refused` (now: the reason in `detail`). `account` is the account after."""

    reference: str
    outcome: PaymentOutcome
    detail: str
    account: Account | None
    repaid: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    meter_id: str
    entry: int
    at: datetime
    delta: Decimal
    balance_after: Decimal
    emergency_owed_after: Decimal
    cause: str  # opening, payment, deduction, emergency_credit
    reference: str


_ACCOUNT_COLUMNS = (
    "meter_id, currency, balance, emergency_owed, state, relay, pending_command, "
    "pending_action, why, until_at, deduct_from, deducted_through, opened_at, updated_at, revision"
)


def _time(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError(f"a time with its offset, not {at.isoformat()}")
    return at.astimezone(UTC).isoformat()


def _account(row: Row) -> Account:
    return Account(
        meter_id=row[0],
        currency=row[1],
        balance=Decimal(row[2]),
        emergency_owed=Decimal(row[3]),
        state=FeeState(row[4]),
        relay=row[5],
        pending_command=row[6],
        pending_action=row[7],
        why=row[8],
        until=datetime.fromisoformat(row[9]) if row[9] else None,
        deduct_from=date.fromisoformat(row[10]),
        deducted_through=date.fromisoformat(row[11]) if row[11] else None,
        opened_at=datetime.fromisoformat(row[12]),
        updated_at=datetime.fromisoformat(row[13]),
        revision=int(row[14]),
    )


async def _locked(tx: Session, meter_id: str) -> Account | None:
    """The account, taken for this transaction (its revision bumped), or None."""
    changed = await tx.execute(
        "UPDATE prepay_accounts SET revision = revision + 1 WHERE meter_id = ?", (meter_id,)
    )
    if not changed:
        return None
    rows = await tx.fetch(
        f"SELECT {_ACCOUNT_COLUMNS} FROM prepay_accounts WHERE meter_id = ?", (meter_id,)
    )
    return _account(rows[0])


async def _write_change(
    tx: Session, account: Account, change: Change, at: datetime, cause: str, reference: str
) -> Account:
    after = change.after
    await tx.execute(
        "UPDATE prepay_accounts SET balance = ?, emergency_owed = ?, updated_at = ? "
        "WHERE meter_id = ?",
        (str(after.balance), str(after.emergency_owed), _time(at), account.meter_id),
    )
    await tx.execute(
        "INSERT INTO prepay_balance_history (meter_id, entry, at, delta, balance_after, "
        "emergency_owed_after, cause, reference) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            account.meter_id,
            account.revision,
            _time(at),
            str(change.delta),
            str(after.balance),
            str(after.emergency_owed),
            cause,
            reference,
        ),
    )
    rows = await tx.fetch(
        f"SELECT {_ACCOUNT_COLUMNS} FROM prepay_accounts WHERE meter_id = ?", (account.meter_id,)
    )
    return _account(rows[0])


async def open_account(
    db: BillingDb, meter_id: str, settings: PrepaySettings, at: datetime
) -> Account:
    """The meter's account, opened with the opening balance if it has none (its first history
    entry); deductions start with the local day of opening."""
    async with db.transaction() as tx:
        inserted = await tx.execute(
            f"INSERT INTO prepay_accounts ({_ACCOUNT_COLUMNS}) "
            "VALUES (?, ?, ?, '0', ?, 'connected', NULL, NULL, 'opened', NULL, ?, NULL, ?, ?, 1) "
            "ON CONFLICT (meter_id) DO NOTHING",
            (
                meter_id,
                settings.currency,
                str(settings.opening_balance),
                FeeState.NORMAL.value,
                at.astimezone(settings.zone).date().isoformat(),
                _time(at),
                _time(at),
            ),
        )
        if inserted:
            await tx.execute(
                "INSERT INTO prepay_balance_history (meter_id, entry, at, delta, balance_after, "
                "emergency_owed_after, cause, reference) VALUES (?, 1, ?, ?, ?, '0', "
                "'opening', '')",
                (
                    meter_id,
                    _time(at),
                    str(settings.opening_balance),
                    str(settings.opening_balance),
                ),
            )
        rows = await tx.fetch(
            f"SELECT {_ACCOUNT_COLUMNS} FROM prepay_accounts WHERE meter_id = ?", (meter_id,)
        )
    return _account(rows[0])


async def account(db: BillingDb, meter_id: str) -> Account | None:
    rows = await db.fetch(
        f"SELECT {_ACCOUNT_COLUMNS} FROM prepay_accounts WHERE meter_id = ?", (meter_id,)
    )
    return _account(rows[0]) if rows else None


async def accounts(db: BillingDb) -> list[Account]:
    rows = await db.fetch(f"SELECT {_ACCOUNT_COLUMNS} FROM prepay_accounts ORDER BY meter_id")
    return [_account(r) for r in rows]


async def apply_payment_once(
    db: BillingDb, payment: Payment, settings: PrepaySettings, received_at: datetime
) -> PaymentResult:
    """Apply `payment` unless its reference was seen before; a refusal (no account, above the
    credit cap) is stored too, so the same reference is refused the same way next time."""
    async with db.transaction() as tx:
        inserted = await tx.execute(
            "INSERT INTO prepay_payments (reference, meter_id, amount, paid_at, received_at, "
            "source, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, 'pending', '') "
            "ON CONFLICT (reference) DO NOTHING",
            (
                payment.reference,
                payment.meter_id,
                str(payment.amount),
                _time(payment.paid_at),
                _time(received_at),
                payment.source,
            ),
        )
        if not inserted:
            rows = await tx.fetch(
                "SELECT meter_id, amount, outcome, detail FROM prepay_payments WHERE reference = ?",
                (payment.reference,),
            )
            meter, amount, outcome, detail = rows[0]
            stored = await _read(tx, meter)
            return PaymentResult(
                payment.reference,
                "duplicate",
                f"reference {payment.reference} already {outcome} ({amount} for {meter}"
                f"{': ' + detail if detail else ''})",
                stored,
            )
        taken = await _locked(tx, payment.meter_id)
        try:
            if taken is None:
                raise LedgerRefusal(f"no prepaid account for meter {payment.meter_id}")
            change = apply_payment(taken.funds, payment.amount, settings)
        except LedgerRefusal as refusal:
            await tx.execute(
                "UPDATE prepay_payments SET outcome = 'refused', detail = ? WHERE reference = ?",
                (str(refusal), payment.reference),
            )
            after = await _read(tx, payment.meter_id)
            return PaymentResult(payment.reference, "refused", str(refusal), after)
        after = await _write_change(tx, taken, change, received_at, "payment", payment.reference)
        detail = f"{settings.money(change.repaid)} repaid emergency credit" if change.repaid else ""
        await tx.execute(
            "UPDATE prepay_payments SET outcome = 'applied', detail = ? WHERE reference = ?",
            (detail, payment.reference),
        )
    return PaymentResult(payment.reference, "applied", detail, after, change.repaid)


async def _read(tx: Session, meter_id: str) -> Account | None:
    rows = await tx.fetch(
        f"SELECT {_ACCOUNT_COLUMNS} FROM prepay_accounts WHERE meter_id = ?", (meter_id,)
    )
    return _account(rows[0]) if rows else None


async def record_deduction(
    db: BillingDb, meter_id: str, day: date, amount: Decimal, at: datetime
) -> Account | None:
    """Deduct `amount` for `day` once; None when that day was deducted before (or the meter
    has no account), else the account after."""
    async with db.transaction() as tx:
        inserted = await tx.execute(
            "INSERT INTO prepay_deductions (meter_id, day, amount, at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (meter_id, day) DO NOTHING",
            (meter_id, day.isoformat(), str(amount), _time(at)),
        )
        if not inserted:
            return None
        taken = await _locked(tx, meter_id)
        if taken is None:
            raise LedgerRefusal(f"no prepaid account for meter {meter_id}")
        change = apply_deduction(taken.funds, amount)
        if taken.deducted_through is None or day > taken.deducted_through:
            await tx.execute(
                "UPDATE prepay_accounts SET deducted_through = ? WHERE meter_id = ?",
                (day.isoformat(), meter_id),
            )
        return await _write_change(tx, taken, change, at, "deduction", day.isoformat())


async def take_emergency(
    db: BillingDb, meter_id: str, settings: PrepaySettings, at: datetime
) -> Account:
    """The emergency credit added (`LedgerRefusal` when not allowed now: nothing changes)."""
    async with db.transaction() as tx:
        taken = await _locked(tx, meter_id)
        if taken is None:
            raise LedgerRefusal(f"no prepaid account for meter {meter_id}")
        change = take_emergency_credit(taken.funds, settings)
        return await _write_change(tx, taken, change, at, "emergency_credit", "")


async def set_control(
    db: BillingDb,
    meter_id: str,
    at: datetime,
    *,
    state: FeeState,
    why: str,
    relay: str | None = None,
    pending: tuple[str, str] | None = None,
    until: datetime | None = None,
) -> Account:
    """Move the fee-control state: `pending` is (command id, action) on its way, or none."""
    async with db.transaction() as tx:
        taken = await _locked(tx, meter_id)
        if taken is None:
            raise LedgerRefusal(f"no prepaid account for meter {meter_id}")
        command, action = pending if pending is not None else (None, None)
        await tx.execute(
            "UPDATE prepay_accounts SET state = ?, why = ?, relay = ?, pending_command = ?, "
            "pending_action = ?, until_at = ?, updated_at = ? WHERE meter_id = ?",
            (
                state.value,
                why,
                relay or taken.relay,
                command,
                action,
                _time(until) if until is not None else None,
                _time(at),
                meter_id,
            ),
        )
        after = await _read(tx, meter_id)
    assert after is not None
    return after


async def history(db: BillingDb, meter_id: str) -> list[HistoryEntry]:
    rows = await db.fetch(
        "SELECT meter_id, entry, at, delta, balance_after, emergency_owed_after, cause, "
        "reference FROM prepay_balance_history WHERE meter_id = ? ORDER BY entry",
        (meter_id,),
    )
    return [
        HistoryEntry(
            r[0],
            int(r[1]),
            datetime.fromisoformat(r[2]),
            Decimal(r[3]),
            Decimal(r[4]),
            Decimal(r[5]),
            r[6],
            r[7],
        )
        for r in rows
    ]


async def payments(db: BillingDb, meter_id: str | None = None) -> list[tuple[str, str, str]]:
    """(reference, amount, outcome) of stored payments, by time paid then reference."""
    sql = "SELECT reference, amount, outcome FROM prepay_payments"
    params: tuple[str, ...] = ()
    if meter_id is not None:
        sql += " WHERE meter_id = ?"
        params = (meter_id,)
    rows = await db.fetch(sql + " ORDER BY paid_at, reference", params)
    return [(r[0], r[1], r[2]) for r in rows]
