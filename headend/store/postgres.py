"""PostgreSQL implementation of the store (asyncpg pool, COPY ingest): the production option.

Open with `await PostgresStore.open("postgresql://user[:password]@host[:port]/db")`; the schema
is created or migrated on open (`postgres_schema`). Every write is one transaction on a pooled
connection; a failure rolls it back and raises `StoreError` naming the operation and the database
as `user@host:port/db` (never the password, which is also scrubbed from the driver's message).

Reading batches and contacts that arrive while a write runs go together into the next
transaction (`group_commit`), as in SQLite: one COPY and one insert statement for all of them.
Counters are reserved by one upsert statement, committed (and, with `synchronous_commit` on,
which the store sets on its connections, flushed) before the value is returned. Concurrent
writers (other head-ends on the same database) are ordered by PostgreSQL's row locks; outbox
entries by an advisory lock, so seq order is commit order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Self, TypeVar
from urllib.parse import unquote, urlsplit

import asyncpg

from drivers.contract import Reading
from headend.events.model import Event
from headend.runs.model import DailyRate, RunStats
from headend.store import (
    postgres_outbox,
    postgres_records,
    register_columns,
)
from headend.store.base import (
    LastContact,
    OutboxEntry,
    OutboxStatus,
    ReadingConflict,
    SaveResult,
    StoreError,
)
from headend.store.group_commit import WriteQueue
from headend.store.postgres_control import PostgresControlTables
from headend.store.postgres_ingest import aware, insert_groups
from headend.store.postgres_schema import migrate
from headend.store.records import CONTACT_COLUMNS, contacts_about, row_contact, stored_as_is
from headend.store.rows import READING_COLUMNS, row_reading

T = TypeVar("T")
SavedRows = tuple[int, list[ReadingConflict]]

# what the driver raises: server errors, client-side errors, network errors (and timeouts)
DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)

_RESERVE_COUNTERS = """
INSERT INTO counters (key, value) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET value = counters.value + EXCLUDED.value
RETURNING value
"""
_SAVE_COUNTER = """
INSERT INTO counters (key, value) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET value = GREATEST(counters.value, EXCLUDED.value)
"""
_RECORD_CONTACT = """
INSERT INTO meter_contact (meter_id, at, ok, error, last_ok_at)
VALUES ($1, $2::timestamptz, $3::boolean, $4, CASE WHEN $3::boolean THEN $2::timestamptz END)
ON CONFLICT (meter_id) DO UPDATE SET
    at = EXCLUDED.at,
    ok = EXCLUDED.ok,
    error = EXCLUDED.error,
    last_ok_at = CASE WHEN EXCLUDED.ok THEN EXCLUDED.at ELSE meter_contact.last_ok_at END
"""
_CONFLICT_COLUMNS = "meter_id, obis, capture_time, stored_value, new_value, unit, receive_time"


def describe_url(url: str) -> tuple[str, list[str]]:
    """How to name the database in messages (`user@host:port/db`), and the secrets of the URL
    (its password, raw and decoded, and a `password=` query parameter) to scrub from them."""
    parts = urlsplit(url)
    secrets = [parts.password or ""]
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if name == "password":
            secrets.append(value)
    secrets = [text for secret in secrets for text in (secret, unquote(secret)) if text]
    user = f"{parts.username}@" if parts.username else ""
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{user}{host}{port}{parts.path}", secrets


class PostgresStore(PostgresControlTables, register_columns.ColumnReads):
    """`Store` over one PostgreSQL database. Open with `await PostgresStore.open(url)`."""

    _column_dialect = register_columns.POSTGRES

    def __init__(self, pool: asyncpg.Pool, database: str, secrets: list[str]) -> None:
        self._pool = pool
        self.database = database
        self._secrets = secrets
        self._saves: WriteQueue[Sequence[Reading], SavedRows] = WriteQueue(self._save_groups)
        self._contact_writes: WriteQueue[tuple[Any, ...], None] = WriteQueue(self._write_contacts)

    @classmethod
    async def open(cls, url: str, *, max_connections: int = 4) -> PostgresStore:
        """Connect (a small pool) and create or migrate the schema; `StoreError` if the
        database cannot be used."""
        database, secrets = describe_url(url)
        pool: asyncpg.Pool | None = None
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=max_connections,
                timeout=30,
                server_settings={
                    # a counter reservation must survive a crash once it returned, whatever
                    # the server's default
                    "synchronous_commit": "on",
                    "application_name": "headend",
                    # a bulk batch sorts its staged rows in memory rather than on disk
                    "work_mem": "64MB",
                },
            )
            async with pool.acquire() as conn:
                await migrate(conn, database)
        except BaseException as err:
            if pool is not None:
                await pool.close()
            if isinstance(err, DRIVER_ERRORS):
                message = _scrub(f"opening database {database} failed: {err}", secrets)
                raise StoreError(message) from err
            raise
        return cls(pool, database, secrets)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._pool.close()

    # -- transactions --------------------------------------------------------------------------

    def _error(self, operation: str, err: BaseException) -> StoreError:
        return StoreError(
            _scrub(f"{operation} failed on database {self.database}: {err}", self._secrets)
        )

    async def _transaction(
        self, operation: str, work: Callable[[asyncpg.Connection], Awaitable[T]]
    ) -> T:
        """Run `work` in one transaction; roll back and raise StoreError on failure. Shielded
        (as in SQLite): a cancelled caller leaves the transaction to complete on its own."""
        task = asyncio.ensure_future(self._run_transaction(operation, work))
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(task)

    async def _run_transaction(
        self, operation: str, work: Callable[[asyncpg.Connection], Awaitable[T]]
    ) -> T:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                return await work(conn)
        except DRIVER_ERRORS as err:
            raise self._error(operation, err) from err

    async def _query(self, operation: str, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """A read (or a single-statement write) on a pooled connection, errors as StoreError."""
        try:
            async with self._pool.acquire() as conn:
                return await work(conn)
        except DRIVER_ERRORS as err:
            raise self._error(operation, err) from err

    # -- readings ------------------------------------------------------------------------------

    async def save_readings(self, readings: Sequence[Reading]) -> int:
        return (await self.save_batch(readings)).new

    async def save_batch(self, readings: Sequence[Reading]) -> SaveResult:
        if not readings:
            return SaveResult(new=0)
        new, conflicts = await self._saves.submit(readings)
        return SaveResult(new=new, conflicts=conflicts)

    async def _save_groups(self, groups: list[Sequence[Reading]]) -> list[SavedRows]:
        operation = f"saving {sum(len(batch) for batch in groups)} readings"
        return await self._transaction(operation, lambda conn: insert_groups(conn, groups))

    async def conflicts(self, *, meter_id: str | None = None) -> list[ReadingConflict]:
        where, params = ("WHERE meter_id = $1", (meter_id,)) if meter_id is not None else ("", ())
        query = (
            f"SELECT {_CONFLICT_COLUMNS} FROM reading_conflicts {where} "
            "ORDER BY first_seen, meter_id, obis, capture_time, new_value"
        )
        rows = await self._query("listing reading conflicts", lambda c: c.fetch(query, *params))
        return [ReadingConflict(**dict(row)) for row in rows]

    async def readings(
        self,
        *,
        meter_id: str | None = None,
        obis: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Reading]:
        clauses: list[str] = []
        params: list[Any] = []
        for clause, value in (
            ("meter_id = ${}", meter_id),
            ("obis = ${}", obis),
            ("capture_time >= ${}", None if since is None else aware(since)),
            ("capture_time <= ${}", None if until is None else aware(until)),
        ):
            if value is not None:
                params.append(value)
                clauses.append(clause.format(len(params)))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = (
            f"SELECT {READING_COLUMNS} FROM readings {where} ORDER BY meter_id, obis, capture_time"
        )
        rows = await self._query("listing readings", lambda c: c.fetch(query, *params))
        return [row_reading(row, stored_as_is) for row in rows]

    async def _read_column_chunk(
        self, queries: register_columns.ChunkQueries
    ) -> register_columns.ChunkRead:
        return await self._query(
            "reading register columns",
            lambda conn: register_columns.read_postgres_chunk(conn, queries),
        )

    async def count_readings(self, meter_id: str | None = None) -> int:
        query, params = "SELECT count(*) FROM readings", list[str]()
        if meter_id is not None:
            query, params = "SELECT count(*) FROM readings WHERE meter_id = $1", [meter_id]
        return int(await self._query("counting readings", lambda c: c.fetchval(query, *params)))

    # -- counters ------------------------------------------------------------------------------

    async def load_counter(self, key: str) -> int | None:
        query = "SELECT value FROM counters WHERE key = $1"
        value = await self._query(f"loading counter {key!r}", lambda c: c.fetchval(query, key))
        return None if value is None else int(value)

    async def save_counter(self, key: str, value: int) -> None:
        if value < 0:
            raise ValueError(f"counter {key!r} cannot be negative")
        await self._transaction(
            f"saving counter {key!r}", lambda c: c.execute(_SAVE_COUNTER, key, value)
        )

    async def reserve_counters(self, key: str, count: int) -> int:
        if count < 1:
            raise ValueError(f"reserve at least one value of counter {key!r}, not {count}")
        # one statement in its own transaction: the block is taken under the row lock and
        # committed before its first value is returned
        end = await self._transaction(
            f"reserving counter {key!r}", lambda c: c.fetchval(_RESERVE_COUNTERS, key, count)
        )
        return int(end) - count

    # -- meters' last contact ------------------------------------------------------------------

    async def record_contact(
        self, meter_id: str, *, at: datetime, ok: bool, error: str | None = None
    ) -> None:
        await self._contact_writes.submit((meter_id, aware(at), ok, error))

    async def _write_contacts(self, contacts: list[tuple[Any, ...]]) -> list[None]:
        about = contacts_about([contact[0] for contact in contacts])
        await self._transaction(
            f"recording contact of {about}", lambda c: c.executemany(_RECORD_CONTACT, contacts)
        )
        return [None] * len(contacts)

    async def last_contact(self, meter_id: str) -> LastContact | None:
        contacts = await self._contacts("WHERE meter_id = $1", (meter_id,))
        return contacts[0] if contacts else None

    async def last_contacts(self) -> list[LastContact]:
        return await self._contacts("", ())

    async def _contacts(self, where: str, params: tuple[Any, ...]) -> list[LastContact]:
        query = f"SELECT {CONTACT_COLUMNS} FROM meter_contact {where} ORDER BY meter_id"
        rows = await self._query("listing last contacts", lambda c: c.fetch(query, *params))
        return [row_contact(row, stored_as_is) for row in rows]

    # -- events, runs, profile marks -----------------------------------------------------------

    async def save_events(self, events: Sequence[Event]) -> int:
        if not events:
            return 0
        return await self._transaction(
            f"saving {len(events)} events", lambda c: postgres_records.insert_events(c, events)
        )

    async def events(
        self,
        *,
        meter_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        return await self._query(
            "listing events",
            lambda c: postgres_records.select_events(
                c, meter_ids=meter_ids, since=since, until=until, limit=limit
            ),
        )

    async def save_run(self, run: RunStats) -> None:
        await self._transaction(
            f"saving run {run.run_id!r}", lambda c: postgres_records.upsert_run(c, run)
        )

    async def runs(self, *, plan: str | None = None, limit: int | None = None) -> list[RunStats]:
        return await self._query(
            "listing runs", lambda c: postgres_records.select_runs(c, plan=plan, limit=limit)
        )

    async def daily_rates(self, *, plan: str | None = None) -> list[DailyRate]:
        return await self._query(
            "listing daily rates", lambda c: postgres_records.select_daily_rates(c, plan=plan)
        )

    async def profile_marks(self, profile: str, meter_ids: Sequence[str]) -> dict[str, datetime]:
        return await self._query(
            f"loading marks of profile {profile!r}",
            lambda c: postgres_records.select_marks(c, profile, meter_ids),
        )

    async def mark_profiles(self, profile: str, marks: dict[str, datetime]) -> None:
        if marks:
            await self._transaction(
                f"marking profile {profile!r} of {len(marks)} meters",
                lambda c: postgres_records.upsert_marks(c, profile, marks),
            )

    # -- outbox --------------------------------------------------------------------------------

    async def outbox_fetch(self, sink: str, limit: int) -> list[OutboxEntry]:
        return await self._query(
            f"fetching the outbox of {sink!r}", lambda c: postgres_outbox.fetch(c, sink, limit)
        )

    async def outbox_ack(self, sink: str, seq: int) -> None:
        await self._transaction(
            f"acknowledging the outbox of {sink!r}",
            lambda c: c.execute(postgres_outbox.ACK, sink, seq),
        )

    async def outbox_status(self, sinks: Sequence[str]) -> list[OutboxStatus]:
        return await self._query(
            "reading the outbox status", lambda c: postgres_outbox.status(c, sinks)
        )

    async def outbox_prune(self, sinks: Sequence[str]) -> int:
        return await self._transaction(
            "pruning the outbox", lambda c: postgres_outbox.prune(c, sinks)
        )


def _scrub(message: str, secrets: list[str]) -> str:
    for secret in secrets:
        message = message.replace(secret, "***")
    return message
