"""Smart payment wired into the head-end: a real `Daemon` (as `headend run` builds it) with the
prepay extension, over simulated meters on real sockets, on a frozen simulated clock the test
moves; the CLI commands run in-process (`main([...])` in a worker thread).

Thresholds (EUR, tests/billing/service/rig.py): opening 8.00, first alarm 6.00, second alarm
3.00, disconnect 0.00, reconnect 5.00, cap 100.00, emergency credit 4.00. Each day's charge is
worked out by hand from the simulated meters' own midnight registers at sim-tou's rates
(`Truth`, see rig.py); the seeded households give

    A gprs-000001: Sun Nov 1 6.25, Mon Nov 2 6.23 EUR
        Mon noon 8.00 - 6.25 = 1.75 (below 6.00 and 3.00: both alarms)
        Tue noon 1.75 - 6.23 = -4.48 (below 0.00, a weekday, no window: disconnected)
        pays 20.00 through the service: 15.52 >= 5.00: reconnected; the file's 5.00: 20.52
    B dc01-0002:   Sun 4.91, Mon 4.90 EUR
        Mon 3.09, Tue -1.81: disconnected; emergency credit 4.00: 2.19 (4.00 owed, still
        below the reconnect balance); the file's 1.00 only repays (2.19, 3.00 owed);
        pays 20.00 in-process with no service: 3.00 repaid, 17.00 credited: 19.19, reconnected
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import billing.cli  # noqa: F401 - registers the prepay extension, as `headend` does
from billing.prepay.ledger import FeeState
from billing.prepay.store import Account, account, history, payments
from billing.service.prepay import PrepayExtension
from billing.store.database import BillingDb, open_billing_db
from billing.store.schema import MIGRATIONS
from headend.commands.model import CommandAction, CommandState
from headend.events.model import HeadendEvent
from headend.reading import ReadingService
from headend.service.control import ask
from headend.service.daemon import Daemon
from headend.simulation import simulated_fleet
from headend.store import SqliteStore
from tests.billing.service.rig import PREPAY, START, A, B, Truth, prepay_fleet
from tests.cli.inprocess import cli
from tests.service.fleet_files import load


async def settle(ext: PrepayExtension) -> None:
    """Wait for the commands fee control asked (a settled one may ask the next)."""
    for _ in range(5):
        found = [await account(ext.db, m) for m in ext.runner.meters]
        pending = [a.pending_command for a in found if a is not None and a.pending_command]
        if not pending:
            return
        for command in pending:
            assert command is not None
            await asyncio.wait_for(ext.commands.wait(command), 30)
    raise AssertionError("fee control kept asking")


@asynccontextmanager
async def open_prepay_db(url: str) -> AsyncIterator[BillingDb]:
    db = await open_billing_db(url, MIGRATIONS)
    try:
        yield db
    finally:
        await db.close()


async def acct(ext: PrepayExtension, meter: str) -> Account:
    found = await account(ext.db, meter)
    assert found is not None
    return found


async def test_fee_control_runs_inside_the_daemon_and_payments_reach_it(tmp_path: Path) -> None:
    path = prepay_fleet(tmp_path)
    config = load(path)
    site = str(tmp_path / "site.sqlite3")
    paid = tmp_path / "payments.csv"
    async with (
        simulated_fleet(config, configured_ports=True) as (sim, served),
        await SqliteStore.open(site) as store,
    ):
        truth = Truth(sim)
        reading = ReadingService(served, store, contacts=store, counters=store)
        daemon = Daemon(served, store, sim.clock, database_url=site)
        await daemon.start()
        try:
            (ext,) = daemon.extensions
            assert isinstance(ext, PrepayExtension)
            assert sorted(ext.runner.meters) == sorted([A, B])
            # started with the daemon: both accounts open at the opening balance
            for meter in (A, B):
                opened = await acct(ext, meter)
                assert (opened.balance, opened.state) == (Decimal("8.00"), FeeState.NORMAL)

            async def noon(day: int) -> None:
                """Day `day` of November, noon: read the meters, evaluate, let commands end."""
                sim.clock.advance(START + timedelta(days=day - 1, hours=12) - sim.clock.now())
                run = await reading.run(served.fleet.plan("daily-values"), now=sim.clock.now())
                assert run.all_ok, run
                report = await ext.runner.tick()
                assert not report.failed and not report.waiting, report
                await settle(ext)

            # -- Monday noon, before the meters are read: Sunday cannot be priced yet -------
            sim.clock.advance(START + timedelta(days=1, hours=12) - sim.clock.now())
            early = await ext.runner.tick()
            assert early.deducted == {} and set(early.waiting) == {A, B}
            assert (
                "no 1.0.1.8.0.255 stored at or after 2026-11-02T00:00:00+00:00"
                in (early.waiting[A])
            )
            assert (await acct(ext, A)).balance == Decimal("8.00")

            # -- Monday noon: Sunday Nov 1 deducted at the tariff ----------------------------
            await noon(2)
            a1, b1 = truth.charge(A, 1), truth.charge(B, 1)
            assert (a1, b1) == (Decimal("6.25"), Decimal("4.91"))
            a = await acct(ext, A)
            assert a.balance == Decimal("8.00") - a1 == Decimal("1.75")
            assert (await acct(ext, B)).balance == Decimal("8.00") - b1 == Decimal("3.09")
            # A below both alarms (1.75 < 3.00): one event each (both at the same instant)
            assert a.state is FeeState.SECOND_ALARM
            codes = sorted(e.code for e in await store.events(meter_ids=[A]))
            assert codes == [HeadendEvent.PREPAY_FIRST_ALARM, HeadendEvent.PREPAY_SECOND_ALARM]
            assert sim.meter(A).connected

            # -- Tuesday noon: both below the disconnect balance: disconnected, read back ----
            await noon(3)
            a2, b2 = truth.charge(A, 2), truth.charge(B, 2)
            a, b = await acct(ext, A), await acct(ext, B)
            assert a.balance == Decimal("8.00") - a1 - a2 == Decimal("-4.48")
            assert b.balance == Decimal("8.00") - b1 - b2 == Decimal("-1.81")
            for meter, found in ((A, a), (B, b)):
                assert (found.state, found.relay) == (FeeState.DISCONNECTED, "disconnected")
                assert not sim.meter(meter).connected
                (cut,) = await store.commands(meter=meter)
                assert (cut.action, cut.state, cut.requester) == (
                    CommandAction.DISCONNECT,
                    CommandState.CONFIRMED,
                    "prepay",
                )
                assert cut.reason == (
                    f"prepayment: balance {found.balance} EUR below the disconnect balance 0.00 EUR"
                )

            # -- `headend status` shows the extension's section ------------------------------
            status, out, err = await cli("status", "--config", str(path), "--json")
            assert status == 0, err
            section = json.loads(out)["prepay"]
            assert section["by_state"] == {"disconnected": 2}
            assert section["below_first_alarm"] == {A: "-4.48 EUR", B: "-1.81 EUR"}
            assert section["lines"][0] == "2 prepaid accounts: 2 disconnected"

            # -- `headend pay` goes to the running service, which reconnects -----------------
            status, out, err = await cli("pay", "--config", str(path), A, "20.00", "--ref", "A-1")
            assert status == 0, err
            assert "sent to the running head-end service" in err
            a = await acct(ext, A)
            assert a.balance == Decimal("15.52")  # -4.48 + 20.00, at least 5.00
            assert (a.relay, a.state) == ("connected", FeeState.NORMAL)
            assert sim.meter(A).connected
            back = [c for c in await store.commands(meter=A) if c.action is CommandAction.RECONNECT]
            assert [c.state for c in back] == [CommandState.CONFIRMED]
            assert f"reconnect {back[0].id}: confirmed" in out
            assert f"{A}: balance 15.52 EUR, state normal, relay connected" in out

            # -- B takes emergency credit over the control socket: 4.00, owed until paid -----
            socket = Path(config.fleet.service.control_socket)
            taken = await ask(socket, {"op": "emergency_credit", "meter": B})
            assert taken["ok"], taken
            b = await acct(ext, B)
            assert (b.balance, b.emergency_owed) == (Decimal("2.19"), Decimal("4.00"))
            assert not sim.meter(B).connected  # 2.19: still below the reconnect balance 5.00

            # -- a payments file through the service: A 5.00, B 1.00 (only repays) ----------
            paid.write_text(
                "meter,amount,reference,time\n"
                f"{A},5.00,A-2,2026-11-03T09:00:00+00:00\n"
                f"{B},1.00,B-2,2026-11-03T09:05:00Z\n"
            )
            status, out, err = await cli("payments", "import", "--config", str(path), str(paid))
            assert status == 0, err
            assert "sent to the running head-end service" in err
            assert f"{paid}: 2 applied, 0 duplicate, 0 refused" in out
            await settle(ext)
            assert (await acct(ext, A)).balance == Decimal("20.52")  # 15.52 + 5.00
            b = await acct(ext, B)
            assert (b.balance, b.emergency_owed) == (Decimal("2.19"), Decimal("3.00"))
            assert not sim.meter(B).connected
        finally:
            await daemon.stop()

        # -- no service now: the same file again, in this process: credited once -------------
        status, out, err = await cli("payments", "import", "--config", str(path), str(paid))
        assert status == 0, err
        assert "sent to the running" not in err
        assert f"{paid}: 0 applied, 2 duplicate, 0 refused" in out

        # -- `headend pay` in-process: repays 3.00, credits 17.00, reconnects, waits ---------
        status, out, err = await cli("pay", "--config", str(path), B, "20.00", "--ref", "B-3")
        assert status == 0, err
        assert "sent to the running" not in err
        assert sim.meter(B).connected  # the reconnect was final before the command exited
        assert "payment B-3: applied (3.00 EUR repaid emergency credit)" in out
        assert f"{B}: balance 19.19 EUR, state normal, relay connected" in out
        assert "reconnect prepay-" in out and ": confirmed" in out
        async with open_prepay_db(site) as db:
            after = await account(db, B)
            assert after is not None
            # 2.19 + 20.00 - 3.00 (repaid) = 19.19, nothing owed
            assert (after.balance, after.emergency_owed) == (Decimal("19.19"), Decimal("0"))
            assert (after.relay, after.state) == ("connected", FeeState.NORMAL)
            refs = {ref: outcome for ref, _amount, outcome in await payments(db)}
            assert refs == {"A-1": "applied", "A-2": "applied", "B-2": "applied", "B-3": "applied"}
            causes = [e.cause for e in await history(db, B)]
            assert causes == [
                "opening", "deduction", "deduction", "emergency_credit", "payment", "payment"
            ]  # fmt: skip

        # -- a malformed file: refused naming file, line and column; nothing of it applied ---
        bad = tmp_path / "bad.csv"
        bad.write_text(
            "meter,amount,reference,time\n"
            f"{A},7.00,A-9,2026-11-04T09:00:00Z\n"
            f"{B},seven,B-9,2026-11-04T09:00:00Z\n"
        )
        status, out, err = await cli("payments", "import", "--config", str(path), str(bad))
        assert status == 2
        assert f"{bad}:3: column amount: 'seven' is not a number; nothing applied" in err
        async with open_prepay_db(site) as db:
            assert "A-9" not in {ref for ref, _a, _o in await payments(db)}
            assert (await account(db, A)) is not None
            assert (await account(db, A)).balance == Decimal("20.52")  # type: ignore[union-attr]

        # -- `headend prepay`: the accounts, and one account's history -----------------------
        status, out, err = await cli("prepay", "--config", str(path), "--json")
        assert status == 0, err
        shown = {x["meter_id"]: x for x in json.loads(out)["accounts"]}
        assert (shown[A]["balance"], shown[B]["balance"]) == ("20.52", "19.19")
        assert (shown[B]["state"], shown[B]["relay"]) == ("normal", "connected")
        status, out, err = await cli("prepay", "--config", str(path), "--meter", A, "--json")
        assert status == 0, err
        shown_a = json.loads(out)
        assert [(e["cause"], e["delta"]) for e in shown_a["history"]] == [
            ("opening", "8.00"),
            ("deduction", "-6.25"),
            ("deduction", "-6.23"),
            ("payment", "20.00"),
            ("payment", "5.00"),
        ]
        status, out, err = await cli("prepay", "--config", str(path), "--meter", A)
        assert status == 0, err
        assert "balance history" in out and "A-1" in out


async def test_a_payments_file_applied_in_process_waits_for_the_reconnects_it_causes(
    tmp_path: Path,
) -> None:
    """Accounts opened at -1.00, below the disconnect balance 0.00: the daemon disconnects both
    meters at its first evaluation. With the service stopped, a file pays A 10.00 (-1.00 + 10.00
    = 9.00, at least 5.00: reconnected, waited for) and B 2.00 (1.00: stays off)."""
    path = prepay_fleet(tmp_path, {**PREPAY, "opening_balance": "-1.00"})
    config = load(path)
    site = str(tmp_path / "site.sqlite3")
    async with (
        simulated_fleet(config, configured_ports=True) as (sim, served),
        await SqliteStore.open(site) as store,
    ):
        daemon = Daemon(served, store, sim.clock, database_url=site)
        await daemon.start()
        try:
            (ext,) = daemon.extensions
            assert isinstance(ext, PrepayExtension)
            await ext.runner.tick()
            await settle(ext)
            for meter in (A, B):
                assert (await acct(ext, meter)).relay == "disconnected"
                assert not sim.meter(meter).connected
        finally:
            await daemon.stop()

        paid = tmp_path / "payments.csv"
        paid.write_text(
            "meter,amount,reference,time\n"
            f"{A},10.00,A-1,2026-11-01T09:00:00Z\n"
            f"{B},2.00,B-1,2026-11-01T09:00:00Z\n"
        )
        status, out, err = await cli("payments", "import", "--config", str(path), str(paid))
        assert status == 0, err
        assert "sent to the running" not in err
        assert f"{paid}: 2 applied, 0 duplicate, 0 refused" in out
        # the reconnect was final before the command exited
        assert sim.meter(A).connected and not sim.meter(B).connected
        (reconnect,) = [line for line in out.splitlines() if line.startswith("reconnect ")]
        assert f"({A}): confirmed (" in reconnect
        async with open_prepay_db(site) as db:
            a, b = await account(db, A), await account(db, B)
            assert a is not None and b is not None
            assert (a.balance, a.relay, a.state) == (Decimal("9.00"), "connected", FeeState.NORMAL)
            assert (b.balance, b.relay) == (Decimal("1.00"), "disconnected")
