"""The back-office's payments file: a good file applied, a file with a malformed line refused
whole (file, line, column and reason named; nothing applied), the same file twice credited
once, a refusal counted without stopping the rest."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from billing.prepay.payments_file import PaymentsFileError, import_payments, read_payments
from billing.prepay.store import account, history, open_account, payments
from billing.store.database import BillingDb, open_billing_db
from billing.store.schema import MIGRATIONS
from tests.billing.prepay.conftest import prepay_settings

S = prepay_settings(meters=["m1", "m2"])  # opening 20.00, cap 200.00
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

GOOD = """meter,amount,reference,time
m1,30.00,BO-1001,2026-11-02T08:15:00+01:00
m2,12.5,BO-1002,2026-11-02T09:00:00Z

m1,0.45,BO-1003,2026-11-02T10:00:00+00:00
"""


def write(tmp_path: Path, text: str, name: str = "payments.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


async def test_a_good_file_is_applied_and_a_second_import_credits_nothing(
    billing_db: BillingDb, tmp_path: Path
) -> None:
    for meter in ("m1", "m2"):
        await open_account(billing_db, meter, S, T0)
    path = write(tmp_path, GOOD)
    first = await import_payments(billing_db, path, S, T0)
    assert (first.applied, first.duplicate, first.refused) == (3, 0, 0)
    second = await import_payments(billing_db, path, S, T0)
    assert (second.applied, second.duplicate, second.refused) == (0, 3, 0)
    assert second.summary() == f"{path}: 0 applied, 3 duplicate, 0 refused"
    m1, m2 = await account(billing_db, "m1"), await account(billing_db, "m2")
    # m1: 20.00 + 30.00 + 0.45 = 50.45; m2: 20.00 + 12.5 = 32.50
    assert m1 is not None and m1.balance == D("50.45")
    assert m2 is not None and m2.balance == D("32.50")
    assert [e.reference for e in await history(billing_db, "m1")] == ["", "BO-1001", "BO-1003"]


def test_times_keep_their_offsets(tmp_path: Path) -> None:
    found = read_payments(write(tmp_path, GOOD), S)
    # 08:15 at +01:00 is 07:15 UTC
    assert found[0].paid_at == datetime(2026, 11, 2, 7, 15, tzinfo=UTC)
    assert [p.reference for p in found] == ["BO-1001", "BO-1002", "BO-1003"]
    assert found[1].amount == D("12.5") and found[0].source == "file"


@pytest.mark.parametrize(
    ("line", "column", "reason"),
    [
        ("m2,12.x,BO-2,2026-11-02T09:00:00Z", "amount", "'12.x' is not a number"),
        ("m2,-3.00,BO-2,2026-11-02T09:00:00Z", "amount", "-3.00 must be above 0"),
        ("m2,1.005,BO-2,2026-11-02T09:00:00Z", "amount", "1.005 has more decimals"),
        ("m2,3.00,,2026-11-02T09:00:00Z", "reference", "empty"),
        (",3.00,BO-2,2026-11-02T09:00:00Z", "meter", "empty"),
        ("m2,3.00,BO-2,2026-11-02 09:00", "time", "has no offset"),
        ("m2,3.00,BO-2,yesterday", "time", "'yesterday' is not an ISO 8601 time"),
        ("m2,3.00,BO-1,2026-11-02T09:00:00Z", "reference", "BO-1 is also on line 2"),
        ("m2,3.00,BO-2", None, "3 fields, expected 4"),
    ],
)
async def test_a_malformed_line_refuses_the_whole_file(
    billing_db: BillingDb, tmp_path: Path, line: str, column: str | None, reason: str
) -> None:
    await open_account(billing_db, "m1", S, T0)
    await open_account(billing_db, "m2", S, T0)
    # line 2 is good, line 3 is the bad one, line 4 good again
    text = f"meter,amount,reference,time\nm1,5.00,BO-1,2026-11-02T08:00:00Z\n{line}\n"
    text += "m1,6.00,BO-3,2026-11-02T10:00:00Z\n"
    path = write(tmp_path, text, "bad.csv")
    with pytest.raises(PaymentsFileError) as caught:
        await import_payments(billing_db, path, S, T0)
    error = caught.value
    assert (error.path, error.line, error.column) == (path, 3, column)
    assert str(error).startswith(f"{path}:3: " + (f"column {column}: " if column else ""))
    assert reason in str(error)
    assert await payments(billing_db) == []  # nothing of the file applied
    m1 = await account(billing_db, "m1")
    assert m1 is not None and m1.balance == D("20.00")


def test_a_wrong_header_or_empty_file(tmp_path: Path) -> None:
    with pytest.raises(PaymentsFileError, match=r"bad\.csv:1: the header must be"):
        read_payments(write(tmp_path, "meter,amount,ref,time\n", "bad.csv"), S)
    with pytest.raises(PaymentsFileError, match=r"empty\.csv:1: empty"):
        read_payments(write(tmp_path, "", "empty.csv"), S)
    with pytest.raises(PaymentsFileError, match="cannot be read"):
        read_payments(tmp_path / "missing.csv", S)


async def test_a_refused_payment_does_not_stop_the_others(
    billing_db: BillingDb, tmp_path: Path
) -> None:
    await open_account(billing_db, "m1", S, T0)
    text = (
        "meter,amount,reference,time\n"
        "m1,190.00,BO-1,2026-11-02T08:00:00Z\n"  # 20.00 + 190.00 = 210.00 > 200.00: refused
        "m9,5.00,BO-2,2026-11-02T08:00:00Z\n"  # no account: refused
        "m1,100.00,BO-3,2026-11-02T08:00:00Z\n"  # 20.00 + 100.00 = 120.00: applied
    )
    report = await import_payments(billing_db, write(tmp_path, text), S, T0)
    assert (report.applied, report.duplicate, report.refused) == (1, 0, 2)
    assert [r.outcome for r in report.results] == ["refused", "refused", "applied"]
    m1 = await account(billing_db, "m1")
    assert m1 is not None and m1.balance == D("120.00")


async def test_the_same_file_imported_at_once_by_two_connections_credits_once(
    billing_url: str, billing_db: BillingDb, tmp_path: Path
) -> None:
    # two head-end processes (two connections to one database) import the same file together
    other = await open_billing_db(billing_url, MIGRATIONS)
    try:
        for meter in ("m1", "m2"):
            await open_account(billing_db, meter, S, T0)
        path = write(tmp_path, GOOD)
        one, two = await asyncio.gather(
            import_payments(billing_db, path, S, T0), import_payments(other, path, S, T0)
        )
        assert one.applied + two.applied == 3 and one.duplicate + two.duplicate == 3
        m1 = await account(other, "m1")
        assert m1 is not None and m1.balance == D("50.45")  # 20.00 + 30.00 + 0.45, once each
    finally:
        await other.close()
