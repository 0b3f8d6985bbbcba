"""The store under test: `database` names it (what `open_store` accepts), `store` is it opened.

Tests written against `store` use only the `Store` protocol, so they run on every backend:
`database` is a SQLite file, then a fresh database on the session's PostgreSQL server (started
only when a PostgreSQL case runs). A test that needs a second store on the same data opens
`database` again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from headend.store import Store, open_store
from tests.postgres_server import PostgresServer


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "store.sqlite3")
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    yield server.url(name)
    server.drop_database(name)


@pytest.fixture
async def store(database: str) -> AsyncIterator[Store]:
    opened = await open_store(database)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def pg_database(postgres_server: PostgresServer) -> Iterator[str]:
    """The name of a fresh database on the session's PostgreSQL server (PostgreSQL-only tests)."""
    name = postgres_server.create_database()
    yield name
    postgres_server.drop_database(name)
