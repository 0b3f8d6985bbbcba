"""The smart-payment desk: a payment, a payments file, emergency credit, answered as JSON objects.

The same answers whether they come over the running service's control socket (ops `pay`,
`payments_import`, `emergency_credit`) or from a CLI that runs them in its own process, so
`headend pay` prints one thing either way. A request that is wrong (a meter that is not prepaid,
an amount that is no payment, a malformed file) is `{"ok": false, "error": ...}` and changes
nothing; a payment the account refuses (above the credit cap) is an answer with outcome
`refused` (stored, so the same reference is refused again the same way).

A payment that brings a disconnected account to the reconnect balance asks for a reconnect; with
`wait` (the default) the answer comes once that command is final and carries its record.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from billing.prepay.ledger import LedgerRefusal
from billing.prepay.payments_file import ImportReport, PaymentsFileError, read_payments
from billing.prepay.runner import PrepayRunner
from billing.prepay.store import Account, PaymentResult, account
from headend.commands.service import CommandService


class PayRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # "op" rides along

    meter: str = Field(min_length=1)
    amount: str = Field(min_length=1, description="a decimal, as text: money is never a float")
    reference: str = Field(min_length=1)
    time: AwareDatetime | None = None  # when it was paid; default now (service clock)
    source: str = "cli"
    wait: bool = True


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def account_json(acct: Account | None) -> dict[str, Any] | None:
    if acct is None:
        return None
    return {key: _plain(value) for key, value in asdict(acct).items()}


def result_json(result: PaymentResult) -> dict[str, Any]:
    return {
        "reference": result.reference,
        "outcome": result.outcome,
        "detail": result.detail,
        "repaid": str(result.repaid),
        "meter": result.account.meter_id if result.account is not None else None,
    }


def report_json(report: ImportReport) -> dict[str, Any]:
    return {
        "path": str(report.path),
        "applied": report.applied,
        "duplicate": report.duplicate,
        "refused": report.refused,
        "results": [result_json(r) for r in report.results],
    }


def _refusal(error: str, **more: Any) -> dict[str, Any]:
    return {"ok": False, "error": error, **more}


class PrepayDesk:
    """Answers on a runner and the command service it asks."""

    def __init__(self, runner: PrepayRunner, commands: CommandService) -> None:
        self.runner = runner
        self.commands = commands

    def _amount(self, text: str) -> Decimal | str:
        """The amount, or why it is no payment."""
        s = self.runner.settings
        try:
            amount = Decimal(text)
        except InvalidOperation:
            return f"amount {text!r} is not a number"
        if not amount.is_finite() or amount <= 0:
            return f"amount {text} must be above 0"
        if amount != amount.quantize(Decimal(1).scaleb(-s.minor_units)):
            return (
                f"amount {text} has more decimals than {s.currency}'s {s.minor_units} minor units"
            )
        return amount

    async def pay(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            wanted = PayRequest.model_validate(request)
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "request"
            return _refusal(f"{where}: {first['msg']}")
        if wanted.meter not in self.runner.meters:
            return _refusal(f"no prepaid meter {wanted.meter!r} ([billing.prepay] names them)")
        amount = self._amount(wanted.amount)
        if isinstance(amount, str):
            return _refusal(amount)
        before = await self._pending([wanted.meter])
        now = self.runner.clock.now()
        outcome = await self.runner.pay(
            wanted.meter, amount, wanted.reference, wanted.time or now, wanted.source
        )
        command: dict[str, Any] | None = None
        acct = outcome.account
        if outcome.reconnect is not None:
            record = await self.commands.store.command(outcome.reconnect)
            # only a reconnect this payment asked: one asked before may belong to a service
            # that is not running now, and would never be final here
            if wanted.wait and outcome.reconnect != before.get(wanted.meter):
                # answered once final and once fee control has settled the account on it
                record = await self.commands.wait(outcome.reconnect)
                acct = await self._account(wanted.meter) or acct
            if record is not None:
                command = record.model_dump(mode="json")
        return {
            "ok": True,
            "payment": result_json(outcome.payment),
            "account": account_json(acct),
            "command": command,
            "money": self.runner.settings.money(acct.balance) if acct is not None else None,
        }

    async def _pending(self, meters: list[str]) -> dict[str, str | None]:
        """Each meter's command on its way, before a change (see `pay`)."""
        found = [await self._account(m) for m in meters]
        return {a.meter_id: a.pending_command for a in found if a is not None}

    async def _account(self, meter_id: str) -> Account | None:
        return await account(self.runner.db, meter_id)

    async def import_file(self, request: dict[str, Any]) -> dict[str, Any]:
        path = request.get("path")
        if not isinstance(path, str) or not path:
            return _refusal("path: the payments file to import")
        wait = request.get("wait", True) is not False
        try:
            payments = read_payments(Path(path), self.runner.settings)
            meters = sorted({p.meter_id for p in payments if p.meter_id in self.runner.meters})
            before = await self._pending(meters)
            # the runner reads the file again, checked whole again: still all or nothing
            report = await self.runner.import_file(Path(path))
        except PaymentsFileError as exc:
            return _refusal(
                str(exc),
                file_error={
                    "path": str(exc.path),
                    "line": exc.line,
                    "column": exc.column,
                    "reason": exc.reason,
                },
            )
        commands: list[dict[str, Any]] = []
        for meter, pending in (await self._pending(meters)).items():
            acct = await self._account(meter)
            if pending is None or pending == before.get(meter) or acct is None:
                continue
            if acct.pending_action != "reconnect":
                continue
            record = await self.commands.wait(pending) if wait else None
            if record is not None:
                commands.append(record.model_dump(mode="json"))
        return {"ok": True, "report": report_json(report), "commands": commands}

    async def emergency_credit(self, request: dict[str, Any]) -> dict[str, Any]:
        meter = request.get("meter")
        if not isinstance(meter, str) or meter not in self.runner.meters:
            return _refusal(f"no prepaid meter {meter!r} ([billing.prepay] names them)")
        try:
            acct = await self.runner.take_emergency_credit(meter)
        except LedgerRefusal as exc:
            return _refusal(str(exc), refused=True)
        return {"ok": True, "account": account_json(await self._account(meter) or acct)}
