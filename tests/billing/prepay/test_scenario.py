"""THE prepayment scenario over real sockets: four simulated meters consume, their daily values
are read into the store each day, deductions price the stored register advance, and fee control
acts through the real command service.

Thresholds (EUR): opening 20.00, first alarm 12.00, second alarm 6.00, disconnect -2.00 (a 2 EUR
overdraft), reconnect 5.00; friendly-credit windows: Saturdays and Sundays (UTC). The rate is a
flat 0.30 EUR/kWh (the lead's real source prices the day at the meter's tariff).

The simulated households use the same every day (their seeded profiles), measured here on the
simulated meters themselves, not through the store: about

    gprs-000001 (A)  19.027 kWh/day -> 5.71 EUR    (19.027 x 0.30 = 5.7081)
    dc01-0002   (B)  15.589 kWh/day -> 4.68 EUR    (4.6767)
    dc01-0001   (C)  11.598 kWh/day -> 3.48 EUR    (3.4794)   on a supply-guarantee hold
    gprs-000002 (D)  11.691 kWh/day -> 3.51 EUR    (3.5073)

Accounts open Monday 2026-11-02 00:00; each day at noon the meters are read and the runner
ticks (the day before is deducted). So A: Tue 14.29, Wed 8.58 (< 12: first alarm), Thu 2.87
(< 6: second alarm), Fri -2.84 (< -2: disconnect, a weekday: at once). B: Wed 10.64, Thu 5.96,
Fri 1.28, Sat -3.40: below the disconnect balance on a Saturday, so it waits for Monday 00:00 and
is disconnected at Monday's evaluation. C falls below -2.00 on Monday (20 - 7 x 3.48 = -4.36) and
is never disconnected. D: Monday 20 - 7 x 3.51 = -4.57: disconnected.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from billing.prepay.ledger import FeeState
from billing.prepay.runner import TickReport
from billing.prepay.store import Account, account, history
from headend.commands.model import CommandAction, CommandState
from headend.events.model import HeadendEvent
from tests.billing.prepay.conftest import prepay_settings
from tests.billing.prepay.rig import IMPORT, START, PrepayRig, prepay_rig

A, B, C, D = "gprs-000001", "dc01-0002", "dc01-0001", "gprs-000002"
RATE = Decimal("0.30")
SETTINGS = prepay_settings(
    meters=[],
    all_meters=True,
    opening_balance="20.00",
    first_alarm_balance="12.00",
    second_alarm_balance="6.00",
    disconnect_balance="-2.00",
    reconnect_balance="5.00",
    friendly_windows=[{"days": ["sat", "sun"]}],
    holds=[C],
)
CENT = Decimal("0.01")


class Scenario:
    """Moves the frozen clock and keeps the registers measured at each midnight."""

    def __init__(self, rig: PrepayRig) -> None:
        self.r = rig
        self.midnights: dict[str, list[Decimal]] = {m: [] for m in rig.meters}
        self.measure()

    def measure(self) -> None:
        for meter, values in self.midnights.items():
            value = self.r.sim.meter(meter).value(IMPORT)
            assert isinstance(value, Decimal)
            values.append(value)

    def charges(self, meter: str) -> list[Decimal]:
        """Each completed day's charge from the meter's own register: kWh x rate, to the cent."""
        values = self.midnights[meter]
        return [
            ((b - a) / 1000 * RATE).quantize(CENT, ROUND_HALF_UP)
            for a, b in itertools.pairwise(values)
        ]

    def expected(self, meter: str, paid: Decimal = Decimal(0)) -> Decimal:
        return Decimal("20.00") - sum(self.charges(meter), Decimal(0)) + paid

    async def noon(self) -> TickReport:
        """From midnight to noon: read the meters, tick, let the commands finish."""
        self.r.sim.clock.advance(timedelta(hours=12))
        await self.r.collect()
        report = await self.r.runner.tick()
        assert not report.failed and not report.waiting, report
        await self.settle()
        return report

    async def midnight(self) -> None:
        now = self.r.sim.clock.now()
        self.r.sim.clock.advance(
            datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC) - now
        )
        self.measure()

    async def settle(self) -> None:
        """Wait for the commands fee control asked (a settled one may ask the next)."""
        for _ in range(5):
            pending = [a.pending_command for a in await self.accounts() if a.pending_command]
            if not pending:
                return
            for command in pending:
                assert command is not None
                await asyncio.wait_for(self.r.commands.wait(command), 30)
        raise AssertionError("fee control kept asking")

    async def accounts(self) -> list[Account]:
        found = [await account(self.r.db, m) for m in self.r.meters]
        return [a for a in found if a is not None]

    async def acct(self, meter: str) -> Account:
        found = await account(self.r.db, meter)
        assert found is not None
        return found

    async def codes(self, meter: str) -> list[int]:
        return [e.code for e in await self.r.store.events(meter_ids=[meter])]


async def test_balance_runs_down_alarms_disconnect_payment_reconnect(tmp_path: Path) -> None:
    async with prepay_rig(tmp_path, SETTINGS, RATE) as r:
        await r.runner.open_accounts()
        r.runner.fee.listen()
        s = Scenario(r)
        assert r.sim.clock.now() == START

        # -- Tuesday: Monday deducted ------------------------------------------------------------
        await s.midnight()
        report = await s.noon()
        assert {m: [d.isoformat() for d in days] for m, days in report.deducted.items()} == {
            m: ["2026-11-02"] for m in r.meters
        }
        # the day's charge from the store equals the one measured on the meter: A 5.71
        assert s.charges(A) == [Decimal("5.71")]
        assert (await s.acct(A)).balance == Decimal("14.29") == s.expected(A)
        assert await r.store.events() == []
        # a second tick the same day deducts nothing again
        assert (await r.runner.tick()).deducted == {}

        # -- Wednesday: A 8.58 < 12.00: first alarm (once), B 10.64 too ---------------------------
        await s.midnight()
        await s.noon()
        a = await s.acct(A)
        assert (a.balance, a.state) == (Decimal("8.58"), FeeState.FIRST_ALARM)
        events = await r.store.events(meter_ids=[A])
        assert [e.code for e in events] == [HeadendEvent.PREPAY_FIRST_ALARM]
        assert events[0].text == (
            "first alarm: balance 8.58 EUR below the first alarm balance 12.00 EUR"
        )
        assert (await s.acct(B)).balance == Decimal("10.64") == s.expected(B)
        await r.runner.tick()  # evaluated again: no second event
        assert await s.codes(A) == [HeadendEvent.PREPAY_FIRST_ALARM]

        # -- Thursday: A 2.87 < 6.00: second alarm; B 5.96 < 6.00 too -----------------------------
        await s.midnight()
        await s.noon()
        assert (await s.acct(A)).state is FeeState.SECOND_ALARM
        assert await s.codes(A) == [
            HeadendEvent.PREPAY_FIRST_ALARM,
            HeadendEvent.PREPAY_SECOND_ALARM,
        ]
        assert "balance 2.87 EUR below the second alarm balance 6.00 EUR" in (
            (await r.store.events(meter_ids=[A]))[1].text
        )
        assert (await s.acct(B)).balance == Decimal("5.96")

        # -- Friday: A -2.84 < -2.00 on a weekday: disconnected, read back open ------------------
        await s.midnight()
        await s.noon()
        a = await s.acct(A)
        assert a.balance == Decimal("-2.84") == s.expected(A)
        assert (a.state, a.relay) == (FeeState.DISCONNECTED, "disconnected")
        assert not r.sim.meter(A).connected
        (cut,) = await r.store.commands(meter=A)
        assert (cut.action, cut.state, cut.requester) == (
            CommandAction.DISCONNECT,
            CommandState.CONFIRMED,
            "prepay",
        )
        assert cut.reason == (
            "prepayment: balance -2.84 EUR below the disconnect balance -2.00 EUR"
        )
        audit = await r.store.audit(command_id=cut.id)
        assert [e.state for e in audit] == [
            CommandState.QUEUED,
            CommandState.SENT,
            CommandState.CONFIRMED,
        ]
        assert {e.actor for e in audit} == {"prepay"}
        assert f"disconnected by command {cut.id}" in a.why
        assert (await s.codes(A))[-1] == HeadendEvent.PREPAY_DISCONNECT
        assert r.sim.meter(B).connected and r.sim.meter(C).connected

        # -- Saturday: B -3.40 < -2.00 inside the weekend window: it waits until Monday ------------
        await s.midnight()
        await s.noon()
        b = await s.acct(B)
        monday = datetime(2026, 11, 9, tzinfo=UTC)
        assert b.balance == Decimal("-3.40") == s.expected(B)
        assert (b.state, b.until, b.pending_command) == (FeeState.DISCONNECT_DUE, monday, None)
        assert b.why == f"friendly-credit window until {monday.isoformat()}"
        assert r.sim.meter(B).connected and await r.store.commands(meter=B) == []
        delayed = (await r.store.events(meter_ids=[B]))[-1]
        assert delayed.code == HeadendEvent.PREPAY_DISCONNECT
        assert delayed.text.startswith("disconnect delayed: balance -3.40 EUR")

        # A's customer pays 20.00 at 12:30: -2.84 - (Friday until the cut) + 20.00 >= 5.00
        r.sim.clock.advance(timedelta(minutes=30))
        paid = await r.runner.pay(A, Decimal("20.00"), "A-PAY-1", r.sim.clock.now())
        assert paid.payment.outcome == "applied" and paid.reconnect is not None
        back = await asyncio.wait_for(r.commands.wait(paid.reconnect), 30)
        assert back.state is CommandState.CONFIRMED, back.detail
        assert r.sim.meter(A).connected
        a = await s.acct(A)
        # Friday's charge is for the hours before the cut only (the meter was open after noon)
        friday_a = s.charges(A)[-1]
        assert Decimal(0) < friday_a < Decimal("5.71")
        assert a.balance == s.expected(A, paid=Decimal("20.00"))
        assert a.balance >= Decimal("5.00") and a.relay == "connected"
        assert a.state is level_at(a.balance)
        assert (await s.codes(A))[-1] == HeadendEvent.PREPAY_RECONNECT
        # the same payment again (a retried CLI call): nothing more
        again = await r.runner.pay(A, Decimal("20.00"), "A-PAY-1", r.sim.clock.now())
        assert again.payment.outcome == "duplicate" and again.reconnect is None
        assert (await s.acct(A)).balance == a.balance

        # -- Sunday: B deeper, still in the window, no second event ------------------------------
        r.sim.clock.advance(timedelta(minutes=-30))
        await s.midnight()
        await s.noon()
        assert (await s.acct(B)).balance == Decimal("-8.08")  # -3.40 - 4.68
        assert r.sim.meter(B).connected
        assert [e.code for e in await r.store.events(meter_ids=[B])].count(
            HeadendEvent.PREPAY_DISCONNECT
        ) == 1

        # -- Monday: the window is over: B disconnected; C held; D disconnected ------------------
        await s.midnight()
        await s.noon()
        b = await s.acct(B)
        assert (b.state, b.balance) == (FeeState.DISCONNECTED, Decimal("-12.76"))
        assert not r.sim.meter(B).connected
        (cut_b,) = await r.store.commands(meter=B)
        assert cut_b.created_at == monday + timedelta(hours=12)
        c = await s.acct(C)
        assert c.balance == Decimal("-4.36") == s.expected(C)  # 20.00 - 7 x 3.48
        assert (c.state, c.relay) == (FeeState.DISCONNECT_DUE, "connected")
        assert c.why == "supply-guarantee hold: never disconnected for credit"
        assert r.sim.meter(C).connected and await r.store.commands(meter=C) == []
        d = await s.acct(D)
        assert d.balance == Decimal("-4.57") == s.expected(D)  # 20.00 - 7 x 3.51
        assert d.state is FeeState.DISCONNECTED and not r.sim.meter(D).connected

        # the back-office file at 13:00: B pays 30.00, D 10.00. B's meter only arms a reconnect
        r.sim.set_control_mode(B, 1)
        r.sim.clock.advance(timedelta(hours=1))
        path = tmp_path / "payments-2026-11-09.csv"
        path.write_text(
            "meter,amount,reference,time\n"
            f"{B},30.00,BO-7001,2026-11-09T13:55:00+01:00\n"
            f"{D},10.00,BO-7002,2026-11-09T12:10:00Z\n"
        )
        first = await r.runner.import_file(path)
        assert (first.applied, first.duplicate, first.refused) == (2, 0, 0)
        await s.settle()
        second = await r.runner.import_file(path)
        assert (second.applied, second.duplicate, second.refused) == (0, 2, 0)
        await s.settle()
        b, d = await s.acct(B), await s.acct(D)
        assert b.balance == Decimal("17.24")  # -12.76 + 30.00, once
        assert d.balance == Decimal("5.43")  # -4.57 + 10.00, once
        # B: armed, the supply stays off until the customer presses the button
        assert b.relay == "armed" and "armed" in b.why
        assert b.state is FeeState.NORMAL  # 17.24 >= 12.00
        assert not r.sim.meter(B).connected
        assert r.sim.meter(B).control_state == "ready_for_reconnection"
        r.sim.meter(B).press_button()
        assert r.sim.meter(B).connected
        # D: 5.43 >= 5.00 -> reconnected (5.43 < 6.00: the second alarm level again)
        assert (d.relay, d.state) == ("connected", FeeState.SECOND_ALARM)
        assert r.sim.meter(D).connected
        for meter in (B, D):
            assert [c.action for c in await r.store.commands(meter=meter)] == [
                CommandAction.DISCONNECT,
                CommandAction.RECONNECT,
            ]
        assert [e.reference for e in await history(r.db, B)].count("BO-7001") == 1

        # -- Tuesday: C deeper still and still supplied, its hold recorded once ------------------
        r.sim.clock.advance(timedelta(hours=-1))
        await s.midnight()
        await s.noon()
        c = await s.acct(C)
        assert c.balance == Decimal("-7.84") == s.expected(C)  # 20.00 - 8 x 3.48
        assert r.sim.meter(C).connected and await r.store.commands(meter=C) == []
        assert await s.codes(C) == [
            HeadendEvent.PREPAY_FIRST_ALARM,
            HeadendEvent.PREPAY_SECOND_ALARM,
            HeadendEvent.PREPAY_DISCONNECT,
        ]
        held = (await r.store.events(meter_ids=[C]))[-1]
        assert "supply-guarantee hold" in held.text and "-4.36 EUR" in held.text

        # every step of A in its balance history: opening, 8 deductions, the payment
        causes = [(e.cause, e.reference) for e in await history(r.db, A)]
        assert causes[0] == ("opening", "") and ("payment", "A-PAY-1") in causes
        assert [c for c, _ in causes].count("deduction") == 8  # Mon 2 .. Mon 9
        # the events reach the sinks through the outbox
        entries = await r.store.outbox_fetch("check", 10_000)
        published = {(e.event.meter_id, e.event.code) for e in entries if e.event is not None}
        assert (A, HeadendEvent.PREPAY_FIRST_ALARM) in published
        assert (B, HeadendEvent.PREPAY_RECONNECT) in published


def level_at(balance: Decimal) -> FeeState:
    if balance < Decimal("6.00"):
        return FeeState.SECOND_ALARM
    if balance < Decimal("12.00"):
        return FeeState.FIRST_ALARM
    return FeeState.NORMAL
