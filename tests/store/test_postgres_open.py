"""Opening stores by URL (`open_store`): every accepted form opened for real, schema migration on
PostgreSQL, and failures to open that name the database but never the password."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from headend.store import PostgresStore, SqliteStore, StoreError, open_store
from headend.store.postgres_schema import SCHEMA_VERSION
from tests.conftest import free_port
from tests.postgres_server import PASSWORD, PASSWORD_USER, PostgresServer

T0 = datetime(2025, 3, 1, tzinfo=UTC)


async def test_sqlite_paths_and_urls_open_one_file(tmp_path: Path) -> None:
    path = tmp_path / "site.sqlite3"
    store = await open_store(path)
    assert isinstance(store, SqliteStore)
    await store.reserve_counters("k", 5)
    await store.close()
    for target in (str(path), f"sqlite:///{path}"):
        store = await open_store(target)
        try:
            assert isinstance(store, SqliteStore) and store.path == path
            assert await store.load_counter("k") == 5
        finally:
            await store.close()


async def test_postgres_urls_with_and_without_password_and_port(
    postgres_server: PostgresServer, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = postgres_server.port
    urls = [
        f"postgresql://postgres@127.0.0.1:{port}/{pg_database}",
        f"postgres://postgres@127.0.0.1:{port}/{pg_database}",
        f"postgresql://{PASSWORD_USER}:{PASSWORD}@127.0.0.1:{port}/{pg_database}",
        f"postgres://{PASSWORD_USER}:{PASSWORD}@127.0.0.1:{port}/{pg_database}",
        # no port in the URL: the driver takes PGPORT (else 5432, where no test server runs)
        f"postgresql://postgres@127.0.0.1/{pg_database}",
        f"postgresql://{PASSWORD_USER}:{PASSWORD}@127.0.0.1/{pg_database}",
    ]
    monkeypatch.setenv("PGPORT", str(port))
    for n, url in enumerate(urls):
        store = await open_store(url)
        try:
            assert isinstance(store, PostgresStore)
            assert PASSWORD not in store.database
            # each one reaches the same database: the counter counts every opening
            assert await store.reserve_counters("opened", 1) == n
        finally:
            await store.close()


@pytest.mark.parametrize(
    "target", ["mysql://root@127.0.0.1/site", "sqlite://relative.db", "http://example/site"]
)
async def test_other_urls_are_refused_naming_the_accepted_forms(target: str) -> None:
    with pytest.raises(ValueError) as info:
        await open_store(target)
    for form in ("sqlite:///path", "postgresql://user[:password]@host[:port]/database"):
        assert form in str(info.value)


def _chain(err: BaseException | None) -> str:
    text = ""
    while err is not None:
        text += f"{err!r} {err}\n"
        err = err.__cause__ or err.__context__
    return text


async def test_a_wrong_password_is_a_store_error_without_the_password(
    postgres_server: PostgresServer, pg_database: str
) -> None:
    wrong = "Wr0ng-pa55word"
    url = postgres_server.url(pg_database, user=PASSWORD_USER, password=wrong)
    with pytest.raises(StoreError) as info:
        await open_store(url)
    message = str(info.value)
    where = f"{PASSWORD_USER}@127.0.0.1:{postgres_server.port}/{pg_database}"
    assert message.startswith(f"opening database {where} failed: ")
    assert "password authentication failed" in message
    assert wrong not in _chain(info.value) and PASSWORD not in _chain(info.value)


async def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://{PASSWORD_USER}:{PASSWORD}@127.0.0.1:{port}/site"
    with pytest.raises(StoreError) as info:
        await open_store(url)
    assert str(info.value).startswith(
        f"opening database {PASSWORD_USER}@127.0.0.1:{port}/site failed: "
    )
    assert PASSWORD not in _chain(info.value)


async def test_a_database_of_a_newer_head_end_is_refused(
    postgres_server: PostgresServer, pg_database: str
) -> None:
    url = postgres_server.url(pg_database)
    await (await PostgresStore.open(url)).close()
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT version FROM schema_version") == SCHEMA_VERSION
        await conn.execute("UPDATE schema_version SET version = 7")
    finally:
        await conn.close()
    with pytest.raises(StoreError) as info:
        await PostgresStore.open(url)
    assert str(info.value) == (
        f"database postgres@127.0.0.1:{postgres_server.port}/{pg_database}: schema version 7 "
        f"is newer than this head-end knows ({SCHEMA_VERSION}): upgrade the head-end"
    )


async def test_head_ends_opening_a_new_database_at_once_migrate_it_once(
    postgres_server: PostgresServer, pg_database: str
) -> None:
    url = postgres_server.url(pg_database)
    stores = await asyncio.gather(*(PostgresStore.open(url) for _ in range(4)))
    try:
        firsts = await asyncio.gather(*(store.reserve_counters("k", 10) for store in stores))
        assert sorted(firsts) == [0, 10, 20, 30]
    finally:
        for store in stores:
            await store.close()
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetch("SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    finally:
        await conn.close()
