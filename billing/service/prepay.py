"""Fee control as a part of `headend run`: the daemon extension for a fleet file with a
`[billing.prepay]` section.

Made per daemon by `prepay_extension` (registered by `billing.cli`, which the `headend` entry
point imports): billing's tables in the daemon's database, the prepay runner on the daemon's
command service, store and clock, days priced by the tariff (`TariffDeduction`), the prepaid
meters and supply-guarantee holds of the fleet file. It adds a `prepay` section to `headend
status` and the control-socket ops `pay`, `payments_import` and `emergency_credit`.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from billing.config import Billing, billing_of
from billing.jobs.deduction import TariffDeduction
from billing.prepay.runner import PrepayRunner
from billing.prepay.store import accounts
from billing.service.desk import PrepayDesk
from billing.service.scope import PrepayScope, prepay_scope
from billing.store.database import BillingDb, open_billing_db
from billing.store.schema import MIGRATIONS
from headend.commands.service import CommandService
from headend.service.clock import ServiceClock
from headend.service.extensions import OpHandler
from headend.store import Store

if TYPE_CHECKING:
    from headend.service.daemon import Daemon


def prepay_runner(
    billing: Billing,
    scope: PrepayScope,
    db: BillingDb,
    commands: CommandService,
    store: Store,
    clock: ServiceClock,
) -> PrepayRunner:
    return PrepayRunner(
        db,
        scope.settings,
        commands,
        store,
        clock,
        TariffDeduction(billing, store, db),
        scope.meters,
        holds=scope.holds,
    )


class PrepayExtension:
    """`DaemonExtension`: starts and stops the runner, reports the accounts, answers payments."""

    name = "prepay"

    def __init__(self, runner: PrepayRunner, db: BillingDb, commands: CommandService) -> None:
        self.runner = runner
        self.db = db
        self.desk = PrepayDesk(runner, commands)
        self.commands = commands
        self._stopped = False

    async def start(self) -> None:
        await self.runner.start()

    async def stop(self) -> None:
        # the control socket closes after this: its last requests must not touch a closed db
        self._stopped = True
        try:
            await self.runner.stop()
        finally:
            await self.db.close()

    def _guarded(self, handler: OpHandler) -> OpHandler:
        async def answer(request: dict[str, Any]) -> dict[str, Any]:
            if self._stopped:
                return {"ok": False, "error": "the head-end is stopping: try again once it runs"}
            return await handler(request)

        return answer

    async def status(self) -> dict[str, Any]:
        """Accounts by state, balances below the first alarm, commands on their way, and the
        same as lines `headend status` can print as they are."""
        if self._stopped:
            return {"stopped": True, "lines": ["stopping"]}
        s = self.runner.settings
        found = await accounts(self.db)
        by_state = Counter(a.state.value for a in found)
        low = {a.meter_id: s.money(a.balance) for a in found if a.balance < s.first_alarm_balance}
        pending = [
            {"meter": a.meter_id, "command": a.pending_command, "action": a.pending_action}
            for a in found
            if a.pending_command is not None
        ]
        waiting = {
            a.meter_id: {"why": a.why, "until": a.until.isoformat()}
            for a in found
            if a.until is not None
        }
        states = ", ".join(f"{n} {state}" for state, n in sorted(by_state.items())) or "none"
        lines = [f"{len(found)} prepaid accounts: {states}"]
        lines += [f"{meter}: balance {money} below the first alarm" for meter, money in low.items()]
        lines += [
            f"{p['meter']}: {p['action']} on its way (command {p['command']})" for p in pending
        ]
        lines += [f"{meter}: {w['why']}" for meter, w in waiting.items()]
        return {
            "accounts": len(found),
            "by_state": dict(by_state),
            "below_first_alarm": low,
            "pending_commands": pending,
            "waiting": waiting,
            "lines": lines,
        }

    def ops(self) -> dict[str, OpHandler]:
        return {
            "pay": self._guarded(self.desk.pay),
            "payments_import": self._guarded(self.desk.import_file),
            "emergency_credit": self._guarded(self.desk.emergency_credit),
        }


async def prepay_extension(daemon: Daemon) -> PrepayExtension | None:
    """The extension for a daemon whose fleet file has `[billing.prepay]`, else None.
    `ConfigError` (file, key, reason) for a billing section that does not hold."""
    raw = daemon.config.fleet.billing
    if raw is None or raw.get("prepay") is None:
        return None
    billing = billing_of(daemon.config)
    scope = prepay_scope(billing)
    assert scope is not None  # the section is there
    db = await open_billing_db(daemon.database_url, MIGRATIONS)
    runner = prepay_runner(billing, scope, db, daemon.commands, daemon.store, daemon.clock)
    return PrepayExtension(runner, db, daemon.commands)
