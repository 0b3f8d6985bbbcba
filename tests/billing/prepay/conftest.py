"""Shared pieces of the smart-payment tests: settings with round thresholds, and billing's
database (prepay's tables) on a SQLite file and on a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from billing.prepay.settings import PrepaySettings
from billing.store.database import BillingDb, open_billing_db
from billing.store.schema import MIGRATIONS
from tests.postgres_server import PostgresServer


def prepay_settings(**fields: Any) -> PrepaySettings:
    """Thresholds (EUR): first alarm 10, second alarm 5, disconnect -2 (2 EUR overdraft),
    reconnect 5, cap 200, opening balance 20, emergency credit 5."""
    values: dict[str, Any] = {
        "meters": ["m1"],
        "opening_balance": "20.00",
        "first_alarm_balance": "10.00",
        "second_alarm_balance": "5.00",
        "disconnect_balance": "-2.00",
        "reconnect_balance": "5.00",
        "max_credit": "200.00",
        "emergency_credit": "5.00",
    }
    values.update(fields)
    return PrepaySettings.model_validate(values)


@pytest.fixture(params=["sqlite", "postgres"])
def billing_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "billing.sqlite3")
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    yield server.url(name)
    server.drop_database(name)


@pytest.fixture
async def billing_db(billing_url: str) -> AsyncIterator[BillingDb]:
    db = await open_billing_db(billing_url, MIGRATIONS)
    try:
        yield db
    finally:
        await db.close()
