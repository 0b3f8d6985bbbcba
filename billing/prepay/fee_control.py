"""Automatic fee control: what a prepaid account's balance asks of its meter, done through the
command service, with every step an event.

`FeeControl.evaluate(meter)` looks at one account: it first settles the command on its way (a
disconnect confirmed by reading the meter back puts the account `disconnected`; a reconnect
confirmed or only armed puts it back by its balance; a failed or expired one is asked again one
evaluation interval later), then moves the state by the balance (`ledger.evaluate`), raising the
first and second alarm once each when crossed. Below the disconnect balance it asks for a
disconnect (requester "prepay", the reason naming the balance) unless

* the meter is on a supply-guarantee hold: never disconnected for credit (recorded, one event);
* now is inside a friendly-credit window: the disconnect waits until the window ends (recorded
  with why and until when, one event per window), and is asked at the first evaluation after.

A disconnected account whose balance reaches the reconnect balance asks for a reconnect. The
command's id is stored on the account before it is submitted, so a head-end that stops between
the two submits the same id again (the command service runs an id once).

Events (head-end codes 1040-1045) are saved in the reading store, so they reach MQTT through the
outbox; the balance is in their text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime

from billing.prepay.ledger import FeeState, after_command, evaluate
from billing.prepay.settings import PrepaySettings
from billing.prepay.store import Account, account, set_control
from billing.store.database import BillingDb
from headend.commands.model import CommandAction, CommandRecord, CommandRequest, CommandState
from headend.commands.service import CommandService
from headend.events.model import Event, EventOrigin, HeadendEvent
from headend.service.clock import ServiceClock
from headend.store.base import Store

LOG = logging.getLogger("headend.service.prepay")
REQUESTER = "prepay"

_ALARMS = {
    FeeState.FIRST_ALARM: (HeadendEvent.PREPAY_FIRST_ALARM, "first alarm"),
    FeeState.SECOND_ALARM: (HeadendEvent.PREPAY_SECOND_ALARM, "second alarm"),
}
_NAMES = {
    HeadendEvent.PREPAY_FIRST_ALARM: "prepay_first_alarm",
    HeadendEvent.PREPAY_SECOND_ALARM: "prepay_second_alarm",
    HeadendEvent.PREPAY_DISCONNECT: "prepay_disconnect",
    HeadendEvent.PREPAY_RECONNECT: "prepay_reconnect",
    HeadendEvent.PREPAY_PAYMENT_REFUSED: "prepay_payment_refused",
    HeadendEvent.PREPAY_EMERGENCY_CREDIT: "prepay_emergency_credit",
}


def prepay_event(meter_id: str, code: HeadendEvent, text: str, at: datetime) -> Event:
    return Event(
        origin=EventOrigin.HEADEND,
        meter_id=meter_id,
        code=int(code),
        name=_NAMES[code],
        text=text,
        time=at,
        received_at=at,
        source=REQUESTER,
    )


class FeeControl:
    """Fee control of the prepaid accounts on `db`; `holds` adds supply-guarantee holds to the
    settings' own (the lead: households of a medical or critical priority class)."""

    def __init__(
        self,
        db: BillingDb,
        settings: PrepaySettings,
        commands: CommandService,
        store: Store,
        clock: ServiceClock,
        *,
        holds: Iterable[str] = (),
    ) -> None:
        self.db = db
        self.settings = settings
        self.commands = commands
        self.store = store
        self.clock = clock
        self.holds = frozenset(settings.holds) | frozenset(holds)
        self._locks: dict[str, asyncio.Lock] = {}

    def listen(self) -> None:
        """Settle prepay's commands as soon as they are final (else: at the next evaluation)."""
        self.commands.on_final.append(self.on_final)

    async def on_final(self, record: CommandRecord) -> None:
        if record.requester == REQUESTER and record.meter is not None:
            await self.evaluate(record.meter)

    async def raise_event(self, meter_id: str, code: HeadendEvent, text: str) -> None:
        await self.store.save_events([prepay_event(meter_id, code, text, self.clock.now())])

    async def evaluate(self, meter_id: str) -> Account | None:
        """Settle, move and act on one account (one evaluation at a time per meter)."""
        lock = self._locks.setdefault(meter_id, asyncio.Lock())
        async with lock:
            return await self._evaluate(meter_id)

    async def _evaluate(self, meter_id: str) -> Account | None:
        acct = await account(self.db, meter_id)
        if acct is None:
            return None
        now = self.clock.now()
        if acct.pending_command is not None:
            record = await self.store.command(acct.pending_command)
            if record is None:  # stored on the account, never submitted (a stop in between)
                await self.commands.submit(self._request(acct, acct.pending_command))
                return acct
            if not record.final:
                return acct
            acct = await self._settle(acct, record, now)
        s = self.settings
        moved = evaluate(acct.state, acct.balance, s)
        for crossed in moved.crossed:
            if crossed in _ALARMS:
                code, label = _ALARMS[crossed]
                limit = (
                    s.first_alarm_balance
                    if crossed is FeeState.FIRST_ALARM
                    else s.second_alarm_balance
                )
                await self.raise_event(
                    meter_id,
                    code,
                    f"{label}: balance {s.money(acct.balance)} below the {label} balance "
                    f"{s.money(limit)}",
                )
        if moved.state is not acct.state:
            acct = await set_control(
                self.db, meter_id, now, state=moved.state, why=self._why(moved.state, acct)
            )
        if acct.until is not None and now < acct.until:
            return acct  # waiting: a friendly-credit window or a retry
        if acct.state is FeeState.DISCONNECT_DUE:
            return await self._disconnect_due(acct, now)
        if acct.state is FeeState.RECONNECT_DUE:
            return await self._ask(acct, CommandAction.RECONNECT, now)
        return acct

    def _why(self, state: FeeState, acct: Account) -> str:
        s = self.settings
        balance = s.money(acct.balance)
        if state is FeeState.DISCONNECT_DUE:
            return f"balance {balance} below the disconnect balance {s.money(s.disconnect_balance)}"
        if state is FeeState.RECONNECT_DUE:
            return f"balance {balance} at the reconnect balance {s.money(s.reconnect_balance)}"
        if state is FeeState.DISCONNECTED:
            return f"disconnected for credit; balance {balance}"
        return f"balance {balance}"

    async def _disconnect_due(self, acct: Account, now: datetime) -> Account:
        s = self.settings
        meter_id = acct.meter_id
        balance = s.money(acct.balance)
        if meter_id in self.holds:
            why = "supply-guarantee hold: never disconnected for credit"
            if acct.why != why:
                acct = await set_control(
                    self.db, meter_id, now, state=acct.state, why=why, until=None
                )
                await self.raise_event(
                    meter_id,
                    HeadendEvent.PREPAY_DISCONNECT,
                    f"not disconnected: balance {balance} below the disconnect balance "
                    f"{s.money(s.disconnect_balance)}, but the household is on a "
                    "supply-guarantee hold",
                )
            return acct
        until = s.friendly_until(now)
        if until is not None:
            acct = await set_control(
                self.db,
                meter_id,
                now,
                state=acct.state,
                why=f"friendly-credit window until {until.isoformat()}",
                until=until,
            )
            await self.raise_event(
                meter_id,
                HeadendEvent.PREPAY_DISCONNECT,
                f"disconnect delayed: balance {balance} below the disconnect balance "
                f"{s.money(s.disconnect_balance)}, inside a friendly-credit window until "
                f"{until.isoformat()}",
            )
            return acct
        return await self._ask(acct, CommandAction.DISCONNECT, now)

    async def _ask(self, acct: Account, action: CommandAction, now: datetime) -> Account:
        s = self.settings
        command_id = f"prepay-{acct.meter_id}-{action.value}-{acct.revision}"
        if action is CommandAction.DISCONNECT:
            reason = (
                f"prepayment: balance {s.money(acct.balance)} below the disconnect balance "
                f"{s.money(s.disconnect_balance)}"
            )
            code = HeadendEvent.PREPAY_DISCONNECT
        else:
            reason = (
                f"prepayment: balance {s.money(acct.balance)} at the reconnect balance "
                f"{s.money(s.reconnect_balance)}"
            )
            code = HeadendEvent.PREPAY_RECONNECT
        acct = await set_control(
            self.db,
            acct.meter_id,
            now,
            state=acct.state,
            why=reason,
            pending=(command_id, action.value),
        )
        record = await self.commands.submit(self._request(acct, command_id))
        await self.raise_event(
            acct.meter_id, code, f"{action.value} asked (command {record.id}): {reason}"
        )
        LOG.info("prepay %s: %s asked (command %s): %s", acct.meter_id, action, record.id, reason)
        return acct

    def _request(self, acct: Account, command_id: str) -> CommandRequest:
        return CommandRequest(
            id=command_id,
            meter=acct.meter_id,
            action=CommandAction(acct.pending_action or CommandAction.DISCONNECT.value),
            reason=acct.why,
            requester=REQUESTER,
            expires_at=self.clock.now() + self.settings.command_expiry,
        )

    async def _settle(self, acct: Account, record: CommandRecord, now: datetime) -> Account:
        """The account once its command is final."""
        disconnect = record.action is CommandAction.DISCONNECT
        effective = record.state is CommandState.CONFIRMED or (
            not disconnect and record.state is CommandState.ARMED
        )
        state = after_command(acct.state, disconnect, effective, acct.balance, self.settings)
        retry: datetime | None = None
        if not effective:
            retry = now + self.settings.evaluation_interval
            why = (
                f"{record.action.value} {record.id} {record.state.value}: {record.detail}; "
                f"asked again after {retry.isoformat()}"
            )
            relay = None
        elif disconnect:
            why = f"disconnected by command {record.id} (read back: {record.detail})"
            relay = "disconnected"
        elif record.state is CommandState.ARMED:
            why = f"reconnect armed by command {record.id}: the customer presses the button"
            relay = "armed"
        else:
            why = f"reconnected by command {record.id} (read back: {record.detail})"
            relay = "connected"
        LOG.info("prepay %s: %s", acct.meter_id, why)
        return await set_control(
            self.db, acct.meter_id, now, state=state, why=why, relay=relay, until=retry
        )
