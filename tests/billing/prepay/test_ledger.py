"""Balance transitions worked by hand: payments (cap, emergency repayment), deductions, the
emergency credit, and the fee-control state with each crossing reported once."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from billing.prepay.ledger import (
    Balance,
    FeeState,
    LedgerRefusal,
    after_command,
    apply_deduction,
    apply_payment,
    evaluate,
    take_emergency_credit,
)
from tests.billing.prepay.conftest import prepay_settings

S = prepay_settings()  # alarms 10 and 5, disconnect -2, reconnect 5, cap 200, emergency 5


def test_a_payment_credits_the_balance() -> None:
    change = apply_payment(Balance(D("12.50")), D("30.00"), S)
    # 12.50 + 30.00 = 42.50, nothing owed so nothing repaid
    assert change.after == Balance(D("42.50"), D(0))
    assert change.delta == D("30.00") and change.repaid == 0


def test_a_payment_above_the_cap_is_refused_not_truncated() -> None:
    # 180.00 + 20.01 = 200.01 > 200.00: refused whole
    with pytest.raises(LedgerRefusal, match=r"200\.01 EUR, above the credit cap 200\.00 EUR"):
        apply_payment(Balance(D("180.00")), D("20.01"), S)
    # 180.00 + 20.00 = 200.00: exactly the cap is allowed
    assert apply_payment(Balance(D("180.00")), D("20.00"), S).after.balance == D("200.00")


def test_a_payment_repays_emergency_credit_first() -> None:
    # balance 3.00 of which 5.00 emergency credit is owed; paying 20.00: 5.00 repays the
    # credit, 15.00 is credited -> 3.00 + 15.00 = 18.00, nothing owed
    change = apply_payment(Balance(D("3.00"), D("5.00")), D("20.00"), S)
    assert change.after == Balance(D("18.00"), D(0))
    assert change.repaid == D("5.00") and change.delta == D("15.00")
    # a payment smaller than the debt only repays: 2.00 of 5.00 -> owed 3.00, balance as it was
    small = apply_payment(Balance(D("3.00"), D("5.00")), D("2.00"), S)
    assert small.after == Balance(D("3.00"), D("3.00")) and small.delta == 0


def test_a_payment_must_be_positive() -> None:
    for amount in (D(0), D("-1"), D("NaN")):
        with pytest.raises(LedgerRefusal):
            apply_payment(Balance(D(0)), amount, S)


def test_a_deduction_may_take_the_balance_below_anything() -> None:
    change = apply_deduction(Balance(D("1.20"), D("5.00")), D("4.35"))
    # 1.20 - 4.35 = -3.15; the emergency debt is not touched by a deduction
    assert change.after == Balance(D("-3.15"), D("5.00")) and change.delta == D("-4.35")
    # a negative day charge (net export) is a credit: 1.20 + 0.80 = 2.00, even above the cap
    assert apply_deduction(Balance(D("1.20")), D("-0.80")).after.balance == D("2.00")
    assert apply_deduction(Balance(D("200.00")), D("-1.00")).after.balance == D("201.00")
    with pytest.raises(LedgerRefusal, match="finite"):
        apply_deduction(Balance(D(0)), D("NaN"))


def test_emergency_credit_is_taken_once_until_repaid() -> None:
    # 4.00 is below the first alarm (10.00): credit 5.00 -> balance 9.00, owed 5.00
    taken = take_emergency_credit(Balance(D("4.00")), S)
    assert taken.after == Balance(D("9.00"), D("5.00"))
    with pytest.raises(LedgerRefusal, match=r"already taken: 5\.00 EUR owed"):
        take_emergency_credit(taken.after, S)
    with pytest.raises(LedgerRefusal, match=r"below 10\.00 EUR"):
        take_emergency_credit(Balance(D("10.00")), S)
    with pytest.raises(LedgerRefusal, match="no emergency credit"):
        take_emergency_credit(Balance(D(0)), prepay_settings(emergency_credit=None))


def test_each_level_is_crossed_and_reported_once() -> None:
    # 12.00 >= 10: normal
    assert evaluate(FeeState.NORMAL, D("12.00"), S).crossed == ()
    # 9.99 < 10: first alarm, reported once
    first = evaluate(FeeState.NORMAL, D("9.99"), S)
    assert (first.state, first.crossed) == (FeeState.FIRST_ALARM, (FeeState.FIRST_ALARM,))
    again = evaluate(FeeState.FIRST_ALARM, D("7.00"), S)
    assert (again.state, again.crossed) == (FeeState.FIRST_ALARM, ())
    # 4.99 < 5: second alarm
    second = evaluate(FeeState.FIRST_ALARM, D("4.99"), S)
    assert second.crossed == (FeeState.SECOND_ALARM,)
    # -2.00 is not below -2.00 (the overdraft is allowed down to it); -2.01 is
    assert evaluate(FeeState.SECOND_ALARM, D("-2.00"), S).state is FeeState.SECOND_ALARM
    due = evaluate(FeeState.SECOND_ALARM, D("-2.01"), S)
    assert due.crossed == (FeeState.DISCONNECT_DUE,)


def test_a_fall_past_several_levels_reports_each_in_order() -> None:
    fall = evaluate(FeeState.NORMAL, D("-3.00"), S)
    assert fall.state is FeeState.DISCONNECT_DUE
    assert fall.crossed == (
        FeeState.FIRST_ALARM,
        FeeState.SECOND_ALARM,
        FeeState.DISCONNECT_DUE,
    )


def test_a_payment_lifts_the_level_so_it_can_be_crossed_again() -> None:
    up = evaluate(FeeState.SECOND_ALARM, D("50.00"), S)
    assert (up.state, up.crossed) == (FeeState.NORMAL, ())
    assert evaluate(up.state, D("8.00"), S).crossed == (FeeState.FIRST_ALARM,)


def test_a_disconnected_account_waits_for_the_reconnect_balance() -> None:
    # 4.99 < 5.00: still disconnected, though above the disconnect balance
    assert evaluate(FeeState.DISCONNECTED, D("4.99"), S) == evaluate(
        FeeState.DISCONNECTED, D("-9"), S
    )
    assert evaluate(FeeState.DISCONNECTED, D("4.99"), S).state is FeeState.DISCONNECTED
    due = evaluate(FeeState.DISCONNECTED, D("5.00"), S)
    assert (due.state, due.crossed) == (FeeState.RECONNECT_DUE, (FeeState.RECONNECT_DUE,))
    assert evaluate(FeeState.RECONNECT_DUE, D("6.00"), S).crossed == ()


def test_command_outcomes() -> None:
    assert after_command(FeeState.DISCONNECT_DUE, True, True, D("-3"), S) is FeeState.DISCONNECTED
    # a failed disconnect leaves it due
    assert (
        after_command(FeeState.DISCONNECT_DUE, True, False, D("-3"), S) is FeeState.DISCONNECT_DUE
    )
    # reconnected at 7.00: 5 <= 7 < 10 -> first alarm level (reported before the cut)
    assert after_command(FeeState.RECONNECT_DUE, False, True, D("7.00"), S) is (
        FeeState.FIRST_ALARM
    )
    assert after_command(FeeState.RECONNECT_DUE, False, False, D("7.00"), S) is (
        FeeState.RECONNECT_DUE
    )
