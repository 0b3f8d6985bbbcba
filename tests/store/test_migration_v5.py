"""Demand-response migrations: a SQLite version 4 file becomes version 5 and a PostgreSQL version
2 database version 3, each keeping what it held and storing demand-response events after."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import asyncpg

from headend.config.load import DemandResponseEvent
from headend.store import PostgresStore, SqliteStore, postgres_schema, schema
from tests.postgres_server import PostgresServer
from tests.store.old_schemas import postgres_at_version, sqlite_at_version
from tests.store.samples import T0

EVENT = DemandResponseEvent(
    id="dr-1", feeder="f1", start=T0, end=T0 + timedelta(hours=2), reduction_kw=5.0
)


async def test_a_version_4_file_is_migrated_to_version_5(tmp_path: Path) -> None:
    path = tmp_path / "v4.sqlite3"
    with sqlite3.connect(path) as db:
        sqlite_at_version(db, 4)
        db.execute("INSERT INTO counters VALUES ('dlms:m1', 9)")
    async with await SqliteStore.open(path) as store:
        assert await store.load_counter("dlms:m1") == 9
        assert await store.demand_responses() == []
        await store.save_demand_response(EVENT, "cli:ops")
        assert await store.demand_responses() == [EVENT]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 6


async def test_a_version_2_postgres_database_is_migrated_to_version_3(
    postgres_server: PostgresServer, pg_database: str
) -> None:
    url = postgres_server.url(pg_database)
    conn = await asyncpg.connect(url)
    try:
        await postgres_at_version(conn, 2)
        await conn.execute("INSERT INTO counters VALUES ('dlms:m1', 9)")
    finally:
        await conn.close()
    async with await PostgresStore.open(url) as store:
        assert await store.load_counter("dlms:m1") == 9
        await store.save_demand_response(EVENT, "cli:ops")
        assert await store.demand_responses() == [EVENT]
    conn = await asyncpg.connect(url)
    try:
        version = await conn.fetchval("SELECT version FROM schema_version")
        assert version == postgres_schema.SCHEMA_VERSION == 4
    finally:
        await conn.close()
