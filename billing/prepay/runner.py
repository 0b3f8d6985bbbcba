"""The smart-payment service task: daily deductions and fee control on a timer, and the entry
points for payments (the CLI, the control socket, the payments file).

Every `evaluation_interval` (service clock) `tick` deducts, for each prepaid meter, the completed
local days not yet deducted (from the day its account opened; a day once, by (meter, day)),
priced by the `DeductionSource`, then evaluates fee control (alarms, disconnect, the disconnects a
friendly-credit window delayed, reconnects). `pay` applies a payment and reconnects at once when
it brings a disconnected account to the reconnect balance.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from billing.prepay.fee_control import LOG, FeeControl
from billing.prepay.payments_file import ImportReport, read_payments
from billing.prepay.settings import PrepaySettings
from billing.prepay.store import (
    Account,
    Payment,
    PaymentResult,
    accounts,
    apply_payment_once,
    open_account,
    record_deduction,
    take_emergency,
)
from billing.store.database import BillingDb
from headend.commands.service import CommandService
from headend.events.model import HeadendEvent
from headend.service.clock import ServiceClock
from headend.store.base import Store


class DeductionSource(Protocol):
    """What a meter's `day` costs: a local date in `[billing.prepay] timezone`, the amount in the
    account currency rounded as the tariff rounds (negative: a credit, e.g. a net export day).
    Raises `DeductionUnavailable` while the day's readings are not stored yet."""

    async def day_charge(self, meter_id: str, day: date) -> Decimal: ...


class DeductionUnavailable(Exception):
    """The day cannot be priced yet (its readings are missing): tried again at the next tick."""


@dataclass(frozen=True, slots=True)
class PayOutcome:
    """A payment's result, the account after it was evaluated, and the reconnect it asked
    (its command id; `CommandService.wait` gives its outcome)."""

    payment: PaymentResult
    account: Account | None
    reconnect: str | None = None


@dataclass
class TickReport:
    deducted: dict[str, list[date]] = field(default_factory=dict)
    waiting: dict[str, str] = field(default_factory=dict)  # meter -> why a day is not deducted
    failed: dict[str, str] = field(default_factory=dict)  # meter -> error


class PrepayRunner:
    """`start()`/`stop()` the timer; `tick()` runs one round by hand (tests, the CLI)."""

    def __init__(
        self,
        db: BillingDb,
        settings: PrepaySettings,
        commands: CommandService,
        store: Store,
        clock: ServiceClock,
        source: DeductionSource,
        meters: Sequence[str],
        *,
        holds: Iterable[str] = (),
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.source = source
        self.meters = list(meters)
        self.fee = FeeControl(db, settings, commands, store, clock, holds=holds)
        self._task: asyncio.Task[None] | None = None

    async def open_accounts(self) -> None:
        """An account for every prepaid meter that has none (the opening balance)."""
        now = self.clock.now()
        for meter_id in self.meters:
            await open_account(self.db, meter_id, self.settings, now)

    async def start(self) -> None:
        await self.open_accounts()
        self.fee.listen()
        self._task = asyncio.create_task(self._loop(), name="prepay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.fee.on_final in self.fee.commands.on_final:
            self.fee.commands.on_final.remove(self.fee.on_final)

    async def _loop(self) -> None:
        interval = self.settings.evaluation_interval.total_seconds()
        while True:
            try:
                await self.tick()
            except Exception:  # a bug in one round: logged, the next round tries again
                LOG.exception("prepay: an evaluation round failed")
            await self.clock.sleep(interval)

    async def tick(self) -> TickReport:
        """Deduct the completed days, then evaluate every prepaid account."""
        report = TickReport()
        today = self.clock.now().astimezone(self.settings.zone).date()
        opened = {a.meter_id: a for a in await accounts(self.db)}
        for meter_id in self.meters:
            acct = opened.get(meter_id)
            if acct is None:
                continue
            try:
                days = await self.deduct(acct, today, report)
                if days:
                    report.deducted[meter_id] = days
                await self.fee.evaluate(meter_id)
            except Exception as exc:  # one meter's failure is not every meter's
                LOG.exception("prepay %s: evaluation failed", meter_id)
                report.failed[meter_id] = str(exc)
        return report

    async def deduct(self, acct: Account, today: date, report: TickReport) -> list[date]:
        """Deduct each completed day before `today` after the last one deducted, oldest first;
        stops at the first day the source cannot price yet (so days go in order)."""
        meter_id = acct.meter_id
        day = acct.deduct_from
        if acct.deducted_through is not None:
            day = max(day, acct.deducted_through + timedelta(days=1))
        deducted: list[date] = []
        while day < today:
            try:
                charge = await self.source.day_charge(meter_id, day)
            except DeductionUnavailable as why:
                report.waiting[meter_id] = f"{day}: {why}"
                break
            if await record_deduction(self.db, meter_id, day, charge, self.clock.now()):
                deducted.append(day)
            day += timedelta(days=1)
        return deducted

    async def pay(
        self, meter_id: str, amount: Decimal, reference: str, at: datetime, source: str = "cli"
    ) -> PayOutcome:
        """Apply a payment (once by reference) and act on it: a reconnect when due."""
        payment = Payment(meter_id, amount, reference, at, source)
        result = await apply_payment_once(self.db, payment, self.settings, self.clock.now())
        return await self._after_payment(result, meter_id)

    async def _after_payment(self, result: PaymentResult, meter_id: str) -> PayOutcome:
        s = self.settings
        if result.outcome == "refused":
            await self.fee.raise_event(
                meter_id,
                HeadendEvent.PREPAY_PAYMENT_REFUSED,
                f"payment {result.reference} refused: {result.detail}",
            )
        if result.outcome != "applied" or meter_id not in self.meters:
            return PayOutcome(result, result.account)
        after = await self.fee.evaluate(meter_id)
        reconnect = (
            after.pending_command
            if after is not None and after.pending_action == "reconnect"
            else None
        )
        if after is not None:
            LOG.info(
                "prepay %s: payment %s applied, balance %s",
                meter_id,
                result.reference,
                s.money(after.balance),
            )
        return PayOutcome(result, after, reconnect)

    async def import_file(self, path: Path) -> ImportReport:
        """Import a payments file (all or nothing on a malformed line; each reference once)."""
        report = ImportReport(path)
        for payment in read_payments(path, self.settings):
            result = await apply_payment_once(self.db, payment, self.settings, self.clock.now())
            report.add(result)
            await self._after_payment(result, payment.meter_id)
        LOG.info("prepay: %s", report.summary())
        return report

    async def take_emergency_credit(self, meter_id: str) -> Account:
        """The customer takes the emergency credit (`LedgerRefusal` when not allowed)."""
        acct = await take_emergency(self.db, meter_id, self.settings, self.clock.now())
        s = self.settings
        await self.fee.raise_event(
            meter_id,
            HeadendEvent.PREPAY_EMERGENCY_CREDIT,
            f"emergency credit {s.money(acct.emergency_owed)} taken: balance "
            f"{s.money(acct.balance)}, repaid from the next payment",
        )
        await self.fee.evaluate(meter_id)
        return acct
