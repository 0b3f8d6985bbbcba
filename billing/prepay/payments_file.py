"""The back-office's payments file: CSV with a header `meter,amount,reference,time`.

`amount` is a decimal in the account currency (above 0, no more decimals than its minor units),
`reference` the back-office's unique id of the payment, `time` when it was paid, ISO 8601 with
its offset (`2026-11-03T09:15:00+01:00` or `...Z`). The whole file is checked before anything is
applied: one malformed line refuses the file (`PaymentsFileError` naming the file, line, column
and reason) and nothing of it is applied. A valid file's payments are then applied one by one,
each once by its reference, so importing the same file again credits nothing twice; a payment
the account refuses (above the credit cap, no such account) is counted as refused and stored as
such, the others still apply.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from billing.prepay.settings import PrepaySettings
from billing.prepay.store import Payment, PaymentResult, apply_payment_once
from billing.store.database import BillingDb

COLUMNS = ("meter", "amount", "reference", "time")


class PaymentsFileError(ValueError):
    """A payments file that cannot be imported; str: "FILE:LINE: column C: reason"."""

    def __init__(self, path: Path, line: int, column: str | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.reason = reason
        where = f"{path}:{line}: " + (f"column {column}: " if column else "")
        super().__init__(where + reason)


@dataclass
class ImportReport:
    """What an import did: counts by outcome and each payment's result, in file order."""

    path: Path
    applied: int = 0
    duplicate: int = 0
    refused: int = 0
    results: list[PaymentResult] = field(default_factory=list)

    def add(self, result: PaymentResult) -> None:
        self.results.append(result)
        if result.outcome == "applied":
            self.applied += 1
        elif result.outcome == "duplicate":
            self.duplicate += 1
        else:
            self.refused += 1

    def summary(self) -> str:
        return (
            f"{self.path}: {self.applied} applied, {self.duplicate} duplicate, "
            f"{self.refused} refused"
        )


def read_payments(path: Path, settings: PrepaySettings, source: str = "file") -> list[Payment]:
    """Every payment of the file, or `PaymentsFileError` for the first malformed line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise PaymentsFileError(path, 0, None, f"cannot be read: {err}") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise PaymentsFileError(path, 1, None, f"empty: a header {','.join(COLUMNS)} is needed")
    header = [h.strip().lower() for h in rows[0]]
    if tuple(header) != COLUMNS:
        raise PaymentsFileError(
            path, 1, None, f"the header must be {','.join(COLUMNS)}, not {','.join(rows[0])}"
        )
    step = Decimal(1).scaleb(-settings.minor_units)
    seen: dict[str, int] = {}
    found: list[Payment] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        if len(row) != len(COLUMNS):
            raise PaymentsFileError(
                path, number, None, f"{len(row)} fields, expected {len(COLUMNS)}"
            )
        meter, amount_text, reference, time_text = (cell.strip() for cell in row)
        if not meter:
            raise PaymentsFileError(path, number, "meter", "empty")
        try:
            amount = Decimal(amount_text)
        except InvalidOperation:
            raise PaymentsFileError(
                path, number, "amount", f"{amount_text!r} is not a number"
            ) from None
        if not amount.is_finite() or amount <= 0:
            raise PaymentsFileError(path, number, "amount", f"{amount_text} must be above 0")
        if amount != amount.quantize(step):
            raise PaymentsFileError(
                path,
                number,
                "amount",
                f"{amount_text} has more decimals than {settings.currency}'s "
                f"{settings.minor_units} minor units",
            )
        if not reference:
            raise PaymentsFileError(path, number, "reference", "empty")
        if reference in seen:
            raise PaymentsFileError(
                path, number, "reference", f"{reference} is also on line {seen[reference]}"
            )
        seen[reference] = number
        try:
            paid_at = datetime.fromisoformat(time_text)
        except ValueError:
            raise PaymentsFileError(
                path, number, "time", f"{time_text!r} is not an ISO 8601 time"
            ) from None
        if paid_at.tzinfo is None:
            raise PaymentsFileError(
                path, number, "time", f"{time_text} has no offset (add Z or +hh:mm)"
            )
        found.append(Payment(meter, amount, reference, paid_at, source))
    return found


async def import_payments(
    db: BillingDb, path: Path, settings: PrepaySettings, received_at: datetime
) -> ImportReport:
    """Check the whole file, then apply each payment once (see the module docstring)."""
    report = ImportReport(path)
    for payment in read_payments(path, settings):
        report.add(await apply_payment_once(db, payment, settings, received_at))
    return report
