"""Fixtures of the CLI tests: a fresh PostgreSQL database per test on the session's server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_server import PostgresServer


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """`postgresql://postgres@127.0.0.1:PORT/<fresh database>`, dropped after the test."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL for tests of the commands that print stored data: a SQLite file, then a
    fresh database on the session's PostgreSQL server (started only when that case runs)."""
    if request.param == "sqlite":
        yield str(tmp_path / "site.sqlite3")
        return
    yield request.getfixturevalue("pg_url")
