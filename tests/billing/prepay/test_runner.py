"""The runner beyond the main scenario: its timer deducts on the service clock, a refused
disconnect is asked again one evaluation interval later, a refused payment and the emergency
credit are events, a day without stored readings waits."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from billing.prepay.ledger import FeeState
from billing.prepay.store import account, history, record_deduction
from headend.commands.model import CommandState
from headend.events.model import HeadendEvent
from tests.billing.prepay.conftest import prepay_settings
from tests.billing.prepay.rig import START, prepay_rig

GPRS, PUBLIC = "gprs-000001", "gprs-000002"
RATE = Decimal("0.30")


async def test_the_timer_deducts_each_completed_day_once(tmp_path: Path) -> None:
    settings = prepay_settings(meters=[GPRS], evaluation_interval="PT1H")
    async with prepay_rig(tmp_path, settings, RATE) as r:
        await r.runner.start()
        opened = await account(r.db, GPRS)
        assert opened is not None and opened.balance == Decimal("20.00")
        # a day and a half on: Monday is complete and its daily values are stored
        r.sim.clock.advance(timedelta(days=1, hours=12))
        await r.collect()
        async with asyncio.timeout(20):
            while len(await history(r.db, GPRS)) < 2:
                # the timer's next round is an evaluation interval (service clock) later
                r.sim.clock.advance(timedelta(hours=1))
                await asyncio.sleep(0.3)
        entries = await history(r.db, GPRS)
        # gprs-000001: 19.027 kWh x 0.30 = 5.7081 -> 5.71; 20.00 - 5.71 = 14.29
        assert [(e.cause, e.reference, e.delta, e.balance_after) for e in entries] == [
            ("opening", "", Decimal("20.00"), Decimal("20.00")),
            ("deduction", "2026-11-02", Decimal("-5.71"), Decimal("14.29")),
        ]
        await r.runner.stop()
        r.sim.clock.advance(timedelta(hours=2))
        await asyncio.sleep(0.2)
        assert len(await history(r.db, GPRS)) == 2  # stopped: nothing more


async def test_a_day_without_stored_readings_waits(tmp_path: Path) -> None:
    settings = prepay_settings(meters=[GPRS])
    async with prepay_rig(tmp_path, settings, RATE) as r:
        await r.runner.open_accounts()
        r.sim.clock.advance(timedelta(days=1, hours=12))
        report = await r.runner.tick()  # nothing read yet
        assert report.deducted == {} and "2026-11-02" in report.waiting[GPRS]
        await r.collect()
        report = await r.runner.tick()
        assert [d.isoformat() for d in report.deducted[GPRS]] == ["2026-11-02"]


async def test_a_refused_disconnect_is_asked_again_an_interval_later(tmp_path: Path) -> None:
    # the public client may read the meter but not command it: the meter refuses
    settings = prepay_settings(meters=[PUBLIC], evaluation_interval="PT15M")
    async with prepay_rig(tmp_path, settings, RATE, public=PUBLIC) as r:
        await r.runner.open_accounts()
        r.runner.fee.listen()
        r.sim.clock.advance(timedelta(hours=12))
        # 20.00 - 25.00 = -5.00 < -2.00 (Monday noon: no friendly window configured)
        await record_deduction(r.db, PUBLIC, START.date(), Decimal("25.00"), r.sim.clock.now())
        await r.runner.tick()
        acct = await account(r.db, PUBLIC)
        assert acct is not None and acct.pending_command is not None
        first = await asyncio.wait_for(r.commands.wait(acct.pending_command), 30)
        assert first.state is CommandState.FAILED
        acct = await account(r.db, PUBLIC)
        assert acct is not None and acct.state is FeeState.DISCONNECT_DUE
        assert acct.until == START + timedelta(hours=12, minutes=15)
        assert f"disconnect {first.id} failed" in acct.why
        codes = [e.code for e in await r.store.events(meter_ids=[PUBLIC])]
        assert HeadendEvent.COMMAND_FAILED in codes  # the command service's own event
        r.sim.clock.advance(timedelta(minutes=10))
        await r.runner.tick()  # 12:10: not yet
        assert len(await r.store.commands(meter=PUBLIC)) == 1
        r.sim.clock.advance(timedelta(minutes=5))
        await r.runner.tick()  # 12:15: asked again, a new command
        acct = await account(r.db, PUBLIC)
        assert acct is not None and acct.pending_command not in (None, first.id)
        await asyncio.wait_for(r.commands.wait(acct.pending_command or ""), 30)
        assert len(await r.store.commands(meter=PUBLIC)) == 2
        assert r.sim.meter(PUBLIC).connected


async def test_refused_payment_and_emergency_credit_are_events(tmp_path: Path) -> None:
    settings = prepay_settings(meters=[GPRS])  # cap 200.00, emergency 5.00
    async with prepay_rig(tmp_path, settings, RATE) as r:
        await r.runner.open_accounts()
        now = r.sim.clock.now()
        refused = await r.runner.pay(GPRS, Decimal("180.01"), "BIG", now)
        assert refused.payment.outcome == "refused"
        (event,) = await r.store.events(meter_ids=[GPRS])
        assert event.code == HeadendEvent.PREPAY_PAYMENT_REFUSED
        assert event.text == (
            "payment BIG refused: the balance would be 200.01 EUR, above the credit cap 200.00 EUR"
        )
        await record_deduction(r.db, GPRS, START.date(), Decimal("17.00"), now)  # 3.00 left
        r.sim.clock.advance(timedelta(minutes=1))
        acct = await r.runner.take_emergency_credit(GPRS)
        assert (acct.balance, acct.emergency_owed) == (Decimal("8.00"), Decimal("5.00"))
        # the evaluation after it: 8.00 < 10.00, the first alarm (same instant, order by key)
        later = {e.code: e for e in (await r.store.events(meter_ids=[GPRS]))[1:]}
        assert set(later) == {
            HeadendEvent.PREPAY_EMERGENCY_CREDIT,
            HeadendEvent.PREPAY_FIRST_ALARM,
        }
        taken = later[HeadendEvent.PREPAY_EMERGENCY_CREDIT].text
        assert taken == (
            "emergency credit 5.00 EUR taken: balance 8.00 EUR, repaid from the next payment"
        )
