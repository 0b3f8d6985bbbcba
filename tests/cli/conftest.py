"""Fixtures of the CLI tests: a fresh PostgreSQL database per test on the session's server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres_server import PostgresServer


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """`postgresql://postgres@127.0.0.1:PORT/<fresh database>`, dropped after the test."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)
