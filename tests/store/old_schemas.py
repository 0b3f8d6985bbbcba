"""A SQLite file or PostgreSQL database left at an older schema version, as an older head-end
wrote it: what the migration tests open with today's store."""

from __future__ import annotations

import sqlite3

import asyncpg

from headend.store import postgres_schema, schema


async def postgres_at_version(conn: asyncpg.Connection, version: int) -> None:
    """Apply the first `version` migrations and record that version, nothing newer."""
    for migration in postgres_schema.MIGRATIONS[:version]:
        for statement in migration:
            await conn.execute(statement)
    await conn.execute(
        "CREATE TABLE schema_version (only_row boolean PRIMARY KEY DEFAULT true "
        "CHECK (only_row), version integer NOT NULL)"
    )
    await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)


def sqlite_at_version(db: sqlite3.Connection, version: int) -> None:
    """Apply the first `version` migrations and record that version (`PRAGMA user_version`)."""
    for migration in schema.MIGRATIONS[:version]:
        for statement in migration:
            db.execute(statement)
    db.execute(f"PRAGMA user_version = {int(version)}")
