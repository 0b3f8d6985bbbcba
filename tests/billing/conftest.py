"""Billing's database under test: `billing_url` is a SQLite file, then a fresh database on the
session's PostgreSQL server (started only when a PostgreSQL case runs); `billing_db` is it
opened with billing's migrations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from billing.store.database import BillingDb, open_billing_db
from billing.store.schema import MIGRATIONS
from tests.postgres_server import PostgresServer


@pytest.fixture(params=["sqlite", "postgres"])
def billing_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "site.sqlite3")
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
