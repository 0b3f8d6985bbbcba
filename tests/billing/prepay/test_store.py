"""Prepaid accounts on billing's database, SQLite and PostgreSQL: a payment and its balance
entry together, a reference applied once (also when imported concurrently), a deduction once per
meter and day, refusals stored, and the history of every change."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest

from billing.prepay.ledger import FeeState, LedgerRefusal
from billing.prepay.store import (
    Payment,
    account,
    apply_payment_once,
    history,
    open_account,
    payments,
    record_deduction,
    set_control,
    take_emergency,
)
from billing.store.database import BillingDb
from tests.billing.prepay.conftest import prepay_settings

S = prepay_settings(meters=["m1", "m2"])  # opening 20.00, cap 200.00, emergency 5.00
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def paid(reference: str, amount: str, meter: str = "m1") -> Payment:
    return Payment(meter, D(amount), reference, T0, "test")


async def test_an_account_opens_once_with_the_opening_balance(billing_db: BillingDb) -> None:
    first = await open_account(billing_db, "m1", S, T0)
    again = await open_account(billing_db, "m1", S, T0 + timedelta(days=1))
    assert first == again
    assert first.balance == D("20.00") and first.state is FeeState.NORMAL
    assert first.deduct_from == date(2026, 11, 2) and first.relay == "connected"
    entries = await history(billing_db, "m1")
    assert [(e.cause, e.delta, e.balance_after) for e in entries] == [
        ("opening", D("20.00"), D("20.00"))
    ]


async def test_a_payment_is_applied_once_with_its_balance_entry(billing_db: BillingDb) -> None:
    await open_account(billing_db, "m1", S, T0)
    applied = await apply_payment_once(billing_db, paid("P-1", "30.00"), S, T0)
    # 20.00 + 30.00 = 50.00
    assert applied.outcome == "applied" and applied.account is not None
    assert applied.account.balance == D("50.00")
    again = await apply_payment_once(billing_db, paid("P-1", "30.00"), S, T0)
    assert again.outcome == "duplicate" and "already applied" in again.detail
    assert again.account is not None and again.account.balance == D("50.00")
    entries = await history(billing_db, "m1")
    assert [(e.cause, e.reference, e.delta, e.balance_after) for e in entries] == [
        ("opening", "", D("20.00"), D("20.00")),
        ("payment", "P-1", D("30.00"), D("50.00")),
    ]
    assert await payments(billing_db, "m1") == [("P-1", "30.00", "applied")]


async def test_refusals_are_stored_and_stay_refused(billing_db: BillingDb) -> None:
    await open_account(billing_db, "m1", S, T0)
    # 20.00 + 180.01 = 200.01 > 200.00
    over = await apply_payment_once(billing_db, paid("P-big", "180.01"), S, T0)
    assert over.outcome == "refused" and "above the credit cap 200.00 EUR" in over.detail
    nobody = await apply_payment_once(billing_db, paid("P-x", "5.00", meter="m9"), S, T0)
    assert nobody.outcome == "refused" and "no prepaid account for meter m9" in nobody.detail
    # the same reference again: not applied now either, even though it would fit after a
    # deduction; the back-office refunds it or sends a new reference
    await record_deduction(billing_db, "m1", date(2026, 11, 2), D("10.00"), T0)
    again = await apply_payment_once(billing_db, paid("P-big", "180.01"), S, T0)
    assert again.outcome == "duplicate" and "already refused" in again.detail
    acct = await account(billing_db, "m1")
    assert acct is not None and acct.balance == D("10.00")  # 20.00 - 10.00, no payment
    assert sorted(await payments(billing_db)) == [
        ("P-big", "180.01", "refused"),
        ("P-x", "5.00", "refused"),
    ]


async def test_a_reference_imported_concurrently_credits_once(billing_db: BillingDb) -> None:
    await open_account(billing_db, "m1", S, T0)
    results = await asyncio.gather(
        *(apply_payment_once(billing_db, paid("P-same", "7.25"), S, T0) for _ in range(8))
    )
    assert sorted(r.outcome for r in results) == ["applied"] + ["duplicate"] * 7
    acct = await account(billing_db, "m1")
    assert acct is not None and acct.balance == D("27.25")  # 20.00 + 7.25 once


async def test_concurrent_payments_of_one_account_all_count(billing_db: BillingDb) -> None:
    await open_account(billing_db, "m1", S, T0)
    results = await asyncio.gather(
        *(apply_payment_once(billing_db, paid(f"P-{i}", "1.10"), S, T0) for i in range(10))
    )
    assert {r.outcome for r in results} == {"applied"}
    acct = await account(billing_db, "m1")
    # 20.00 + 10 x 1.10 = 31.00: no change lost to another
    assert acct is not None and acct.balance == D("31.00")
    entries = await history(billing_db, "m1")
    assert [e.balance_after for e in entries[1:]] == [
        D("20.00") + D("1.10") * n for n in range(1, 11)
    ]


async def test_a_day_is_deducted_once(billing_db: BillingDb) -> None:
    await open_account(billing_db, "m1", S, T0)
    day = date(2026, 11, 2)
    after = await record_deduction(billing_db, "m1", day, D("4.35"), T0)
    assert after is not None and after.balance == D("15.65")  # 20.00 - 4.35
    assert await record_deduction(billing_db, "m1", day, D("4.35"), T0) is None
    both = await asyncio.gather(
        *(record_deduction(billing_db, "m1", date(2026, 11, 3), D("1.00"), T0) for _ in range(4))
    )
    assert sum(1 for b in both if b is not None) == 1
    acct = await account(billing_db, "m1")
    assert acct is not None and acct.balance == D("14.65")  # 15.65 - 1.00
    assert acct.deducted_through == date(2026, 11, 3)
    # a day before the last deducted (put in by hand) does not move the mark back
    await record_deduction(billing_db, "m1", date(2026, 11, 1), D("0.65"), T0)
    acct = await account(billing_db, "m1")
    assert acct is not None and acct.deducted_through == date(2026, 11, 3)
    assert acct.balance == D("14.00")  # 14.65 - 0.65
    with pytest.raises(LedgerRefusal, match="no prepaid account for meter m2"):
        await record_deduction(billing_db, "m2", day, D("1.00"), T0)


async def test_emergency_credit_and_its_repayment(billing_db: BillingDb) -> None:
    await open_account(billing_db, "m1", S, T0)
    with pytest.raises(LedgerRefusal, match=r"below 10\.00 EUR"):
        await take_emergency(billing_db, "m1", S, T0)
    await record_deduction(billing_db, "m1", date(2026, 11, 2), D("18.00"), T0)  # 2.00 left
    taken = await take_emergency(billing_db, "m1", S, T0)
    assert (taken.balance, taken.emergency_owed) == (D("7.00"), D("5.00"))  # 2.00 + 5.00
    repaid = await apply_payment_once(billing_db, paid("P-r", "12.00"), S, T0)
    # 5.00 of 12.00 repays the credit, 7.00 credited: 7.00 + 7.00 = 14.00
    assert repaid.repaid == D("5.00") and repaid.account is not None
    assert (repaid.account.balance, repaid.account.emergency_owed) == (D("14.00"), D(0))
    causes = [(e.cause, e.delta, e.balance_after) for e in await history(billing_db, "m1")]
    assert causes == [
        ("opening", D("20.00"), D("20.00")),
        ("deduction", D("-18.00"), D("2.00")),
        ("emergency_credit", D("5.00"), D("7.00")),
        ("payment", D("7.00"), D("14.00")),
    ]


async def test_the_fee_control_state_is_kept(billing_db: BillingDb) -> None:
    await open_account(billing_db, "m1", S, T0)
    until = T0 + timedelta(hours=3)
    moved = await set_control(
        billing_db,
        "m1",
        T0,
        state=FeeState.DISCONNECT_DUE,
        why="friendly-credit window",
        until=until,
    )
    assert moved.state is FeeState.DISCONNECT_DUE and moved.until == until
    asked = await set_control(
        billing_db,
        "m1",
        T0,
        state=FeeState.DISCONNECT_DUE,
        why="asked",
        pending=("cmd-1", "disconnect"),
    )
    assert (asked.pending_command, asked.pending_action, asked.until) == (
        "cmd-1",
        "disconnect",
        None,
    )
    done = await set_control(
        billing_db, "m1", T0, state=FeeState.DISCONNECTED, why="cut", relay="disconnected"
    )
    assert done.pending_command is None and done.relay == "disconnected"
    assert done.balance == D("20.00")  # the state moves, the balance does not
