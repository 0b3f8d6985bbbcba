"""Pure balance transitions of a prepaid account: a payment, a daily deduction, the emergency
credit, and the fee-control state the balance puts the account in.

No I/O here: `store.py` persists what these functions return, in one transaction each.

Emergency credit is a loan: taking it adds the amount to the balance and records it as owed;
the next payment repays what is owed first and credits the rest (a payment smaller than the
debt only repays). It can be taken once while nothing is owed and the balance is below the
first alarm balance; once repaid it may be taken again.

The fee-control state moves with the balance and with the commands:

    normal -> first_alarm -> second_alarm -> disconnect_due  (balance falling, meter connected)
    disconnect_due -> disconnected                            (the disconnect confirmed)
    disconnected -> reconnect_due                             (balance at the reconnect balance)
    reconnect_due -> normal .. disconnect_due                 (the reconnect confirmed or armed)

Each level crossed on the way down is reported once, when it is crossed (`Transition.crossed`),
not on every evaluation; a payment that lifts the balance lets it be crossed (and reported)
again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from billing.prepay.settings import PrepaySettings


class FeeState(StrEnum):
    NORMAL = "normal"
    FIRST_ALARM = "first_alarm"
    SECOND_ALARM = "second_alarm"
    DISCONNECT_DUE = "disconnect_due"
    DISCONNECTED = "disconnected"
    RECONNECT_DUE = "reconnect_due"


# the levels of a connected meter, from the top
_CONNECTED = (
    FeeState.NORMAL,
    FeeState.FIRST_ALARM,
    FeeState.SECOND_ALARM,
    FeeState.DISCONNECT_DUE,
)


class LedgerRefusal(ValueError):
    """A change the account does not allow (a payment above the cap, a second emergency
    credit); the message says why, nothing changes."""


@dataclass(frozen=True, slots=True)
class Balance:
    """What a change works on: the spendable balance and the emergency credit still owed."""

    balance: Decimal
    emergency_owed: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Change:
    """A change of balance: what it became, by how much, and the part that repaid emergency
    credit (a payment only)."""

    after: Balance
    delta: Decimal
    repaid: Decimal = Decimal(0)


def apply_payment(account: Balance, amount: Decimal, settings: PrepaySettings) -> Change:
    """A payment of `amount` (> 0): repays emergency credit owed first, credits the rest.

    Refused (`LedgerRefusal`) when the balance would exceed `max_credit` (never truncated)."""
    if not amount.is_finite() or amount <= 0:
        raise LedgerRefusal(f"a payment must be above 0, not {amount}")
    repaid = min(amount, account.emergency_owed)
    credited = amount - repaid
    balance = account.balance + credited
    if balance > settings.max_credit:
        raise LedgerRefusal(
            f"the balance would be {settings.money(balance)}, above the credit cap "
            f"{settings.money(settings.max_credit)}"
        )
    after = Balance(balance, account.emergency_owed - repaid)
    return Change(after, credited, repaid)


def apply_deduction(account: Balance, amount: Decimal) -> Change:
    """A day's charge taken off the balance; the balance may go below anything. A negative
    charge (a day a net-metered household exported more than it used) is a credit, never
    refused by the cap: the customer did not choose it, and refusing it would lose it."""
    if not amount.is_finite():
        raise LedgerRefusal(f"a deduction must be a finite amount, not {amount}")
    return Change(replace(account, balance=account.balance - amount), -amount)


def take_emergency_credit(account: Balance, settings: PrepaySettings) -> Change:
    """The emergency credit added to the balance and owed until the next payment."""
    credit = settings.emergency_credit
    if credit is None:
        raise LedgerRefusal("no emergency credit is configured")
    if account.emergency_owed > 0:
        raise LedgerRefusal(
            f"emergency credit already taken: {settings.money(account.emergency_owed)} owed"
        )
    if account.balance >= settings.first_alarm_balance:
        below = settings.money(settings.first_alarm_balance)
        raise LedgerRefusal(
            f"emergency credit is for a balance below {below}"
            f" (it is {settings.money(account.balance)})"
        )
    return Change(Balance(account.balance + credit, credit), credit)


def level_of(balance: Decimal, settings: PrepaySettings) -> FeeState:
    """Where the balance puts a connected meter."""
    if balance < settings.disconnect_balance:
        return FeeState.DISCONNECT_DUE
    if balance < settings.second_alarm_balance:
        return FeeState.SECOND_ALARM
    if balance < settings.first_alarm_balance:
        return FeeState.FIRST_ALARM
    return FeeState.NORMAL


@dataclass(frozen=True, slots=True)
class Transition:
    """The state after an evaluation and the states newly entered on the way (in order): each
    is an event to raise once."""

    state: FeeState
    crossed: tuple[FeeState, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.crossed)


def evaluate(state: FeeState, balance: Decimal, settings: PrepaySettings) -> Transition:
    """The state `balance` puts an account in that was in `state` (no command outcome here:
    `disconnected` and the way back from `reconnect_due` follow the meter, see `after_command`)."""
    if state in (FeeState.DISCONNECTED, FeeState.RECONNECT_DUE):
        if balance >= settings.reconnect_balance:
            crossed = () if state is FeeState.RECONNECT_DUE else (FeeState.RECONNECT_DUE,)
            return Transition(FeeState.RECONNECT_DUE, crossed)
        # a reconnect still due while the balance fell back (a deduction came first): stay off
        return Transition(FeeState.DISCONNECTED)
    new = level_of(balance, settings)
    old_rank, new_rank = _CONNECTED.index(state), _CONNECTED.index(new)
    return Transition(new, _CONNECTED[old_rank + 1 : new_rank + 1])


def after_command(
    state: FeeState, disconnect: bool, effective: bool, balance: Decimal, settings: PrepaySettings
) -> FeeState:
    """The state once a disconnect or reconnect command is final: `effective` when confirmed
    (or, for a reconnect, armed); a command that failed leaves the account where it was, due
    again at the next evaluation."""
    if not effective:
        return state
    if disconnect:
        return FeeState.DISCONNECTED
    # back on supply: the level by the balance, its crossings already reported before the cut
    return level_of(balance, settings)
