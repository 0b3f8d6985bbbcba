"""Billing's connection to the head-end's database: the same URL forms as the reading store
(a SQLite path, `sqlite:///path`, `postgresql://` or `postgres://`), one small async interface for
both, and versioned migrations of billing's own tables.

SQL is written once, with `?` placeholders and portable types (TEXT for decimals and times, which
keeps Decimal exact; BIGINT for counters); PostgreSQL gets `$1..$n`. Billing's tables live beside
the reading store's and never touch them.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
import asyncpg

from headend.store import STORE_FORMS
from headend.store.base import StoreError
from headend.store.postgres import describe_url

Row = tuple[Any, ...]


class Session(Protocol):
    """Statements inside one transaction (or autocommitted, outside one)."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...


class BillingDb(Session, Protocol):
    dialect: str  # "sqlite" | "postgresql"
    name: str  # what messages call the database (no password)

    def transaction(self) -> Any:
        """`async with db.transaction() as tx:` all of tx's statements commit together or not at
        all (SQLite: BEGIN IMMEDIATE, so concurrent writers queue instead of failing)."""
        ...

    async def close(self) -> None: ...


_PLACEHOLDER = re.compile(r"\?")


def _numbered(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


class _SqliteSession:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = await self._db.execute(sql, tuple(params))
        return cursor.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._db.executemany(sql, [tuple(r) for r in rows])

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = await self._db.execute(sql, tuple(params))
        return [tuple(r) for r in await cursor.fetchall()]


class SqliteBillingDb(_SqliteSession):
    dialect = "sqlite"

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        super().__init__(db)
        self.name = str(path)
        self._lock = asyncio.Lock()  # one transaction at a time on this connection

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def close(self) -> None:
        await self._db.close()


class _PgSession:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        status: str = await self._conn.execute(_numbered(sql), *params)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(_numbered(sql), [tuple(r) for r in rows])

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [tuple(r) for r in await self._conn.fetch(_numbered(sql), *params)]


class PostgresBillingDb:
    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool, name: str) -> None:
        self._pool = pool
        self.name = name

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._pool.acquire() as conn:
            return await _PgSession(conn).execute(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self._pool.acquire() as conn:
            await _PgSession(conn).executemany(sql, rows)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._pool.acquire() as conn:
            return await _PgSession(conn).fetch(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield _PgSession(conn)

    async def close(self) -> None:
        await self._pool.close()


# Billing's schema versions. Each entry: statements that take the schema from the version before
# to this one, written once for both databases. Never edit a released entry: add one.
Migration = tuple[int, Sequence[str]]


async def open_billing_db(target: Path | str, migrations: Sequence[Migration]) -> BillingDb:
    """Open the database a URL names and bring billing's tables to the last of `migrations`.

    `StoreError` names the database (never its password) and the cause."""
    text = str(target)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    db: BillingDb
    if scheme in ("postgresql", "postgres"):
        name, secrets = describe_url(text)
        try:
            pool = await asyncpg.create_pool(text, min_size=1, max_size=4, timeout=30)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as err:
            message = f"opening database {name} for billing failed: {err}"
            for secret in secrets:
                if secret:
                    message = message.replace(secret, "***")
            raise StoreError(message) from None
        db = PostgresBillingDb(pool, name)
    else:
        if scheme == "sqlite":
            if not text.startswith("sqlite:///") or text == "sqlite:///":
                raise ValueError(f"a SQLite URL is sqlite:///path; use {STORE_FORMS}")
            text = text[len("sqlite:///") :]
        elif scheme:
            raise ValueError(f"unsupported database URL scheme {scheme!r}; use {STORE_FORMS}")
        path = Path(text)
        try:
            conn = await aiosqlite.connect(path, timeout=30, isolation_level=None)
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=FULL")
        except (sqlite3.Error, OSError) as err:
            raise StoreError(f"opening database {path} for billing failed: {err}") from None
        db = SqliteBillingDb(conn, path)
    try:
        await migrate(db, migrations)
    except BaseException:
        await db.close()
        raise
    return db


async def migrate(db: BillingDb, migrations: Sequence[Migration]) -> None:
    """Apply the migrations the database has not seen, each in its own transaction."""
    await db.execute("CREATE TABLE IF NOT EXISTS billing_schema (version BIGINT NOT NULL)")
    for version, statements in sorted(migrations, key=lambda m: m[0]):
        async with db.transaction() as tx:
            if db.dialect == "postgresql":
                # one migrator at a time across processes
                await tx.execute("SELECT pg_advisory_xact_lock(7275620)")
            rows = await tx.fetch("SELECT COALESCE(MAX(version), 0) FROM billing_schema")
            if int(rows[0][0]) >= version:
                continue
            for statement in statements:
                await tx.execute(statement)
            await tx.execute("INSERT INTO billing_schema (version) VALUES (?)", (version,))
