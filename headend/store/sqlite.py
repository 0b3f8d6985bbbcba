"""SQLite implementation of the store (aiosqlite, WAL journal): the embedded default.

Three connections per store, in autocommit mode with explicit `BEGIN IMMEDIATE` transactions
(so a writer waits for another process's write lock instead of failing on a stale snapshot):

* the main one, `synchronous=NORMAL`: readings, conflicts, last contact, events, runs, profile
  marks, outbox cursors. After a power cut the last commits may be lost, which is fine for data
  the next read brings again;
* one for invocation counters, `synchronous=FULL`: a reservation is fsync'd before it returns,
  because a counter block lost to a power cut would be handed out again (AES-GCM nonce reuse);
* a reader for the outbox, events and runs: never inside the main connection's open write
  transaction, so a sink is never handed an entry that a rollback then takes back (and whose seq
  the next entry would reuse).

A lock per connection makes each multi-statement write one transaction within the process; SQLite's
own locking (busy timeout 30 s) orders writers of several processes. Reading batches and contacts
that arrive while a write runs go together into the next transaction (`group_commit`), each
caller still getting its own result or error. Every sqlite3 error becomes a
`StoreError` naming the operation and the database, after the transaction was rolled back.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

import aiosqlite

from drivers.contract import Reading
from headend.events.model import Event
from headend.runs.model import DailyRate, RunStats
from headend.store import outbox, register_columns
from headend.store.base import (
    LastContact,
    OutboxEntry,
    OutboxStatus,
    ReadingConflict,
    SaveResult,
    StoreError,
)
from headend.store.events import insert_events, select_events
from headend.store.group_commit import WriteQueue
from headend.store.ingest import CONFLICT_COLUMNS, conflict_from_row, insert_groups
from headend.store.profile_marks import select_marks, upsert_marks
from headend.store.records import CONTACT_COLUMNS, contacts_about, row_contact
from headend.store.rows import READING_COLUMNS, reading_rows, row_reading, utc_text
from headend.store.runs import select_daily_rates, select_runs, upsert_run
from headend.store.schema import SCHEMA_VERSION, migrate
from headend.store.sqlite_connect import BUSY_TIMEOUT_S, connect
from headend.store.sqlite_control import SqliteControlTables

__all__ = ["SCHEMA_VERSION", "SqliteStore", "utc_text"]

T = TypeVar("T")
# one batch's outcome: rows new to the store, conflicts
SavedRows = tuple[int, list[ReadingConflict]]

# MAX() in the upsert keeps the counter monotonic in one atomic statement.
_SAVE_COUNTER = """
INSERT INTO counters (key, value) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET value = MAX(value, excluded.value)
"""

# one statement: the block is taken and its end returned under the write lock, never read first
_RESERVE_COUNTERS = """
INSERT INTO counters (key, value) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET value = value + excluded.value
RETURNING value
"""

_RECORD_CONTACT = """
INSERT INTO meter_contact (meter_id, at, ok, error, last_ok_at)
VALUES (:meter_id, :at, :ok, :error, CASE WHEN :ok THEN :at END)
ON CONFLICT (meter_id) DO UPDATE SET
    at = excluded.at,
    ok = excluded.ok,
    error = excluded.error,
    last_ok_at = CASE WHEN excluded.ok THEN excluded.at ELSE meter_contact.last_ok_at END
"""


class SqliteStore(SqliteControlTables, register_columns.ColumnReads):
    """`Store` over one SQLite file. Open with `await SqliteStore.open(path)` or `async with`."""

    _column_dialect = register_columns.SQLITE

    def __init__(
        self,
        db: aiosqlite.Connection,
        counters: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        path: Path,
    ) -> None:
        self._db = db
        self._counters = counters
        self._reader = reader
        self.path = path
        self._write_lock = asyncio.Lock()
        self._counter_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()
        # batches and contacts that arrive during a write go together into the next one
        self._saves: WriteQueue[list[tuple[Any, ...]], SavedRows] = WriteQueue(self._save_groups)
        self._contact_writes: WriteQueue[dict[str, Any], None] = WriteQueue(self._write_contacts)

    @classmethod
    async def open(cls, path: Path | str, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> SqliteStore:
        """Open (creating or migrating) the file; `StoreError` if it cannot be used."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        opened: list[aiosqlite.Connection] = []
        try:
            opened.append(await connect(path, "NORMAL", busy_timeout_s))
            await migrate(opened[0], path)
            opened.append(await connect(path, "FULL", busy_timeout_s))
            opened.append(await connect(path, "NORMAL", busy_timeout_s))
        except BaseException as err:
            for db in opened:
                await db.close()
            if isinstance(err, sqlite3.Error):
                raise StoreError(f"opening database {path} failed: {err}") from err
            raise
        db, counters, reader = opened
        return cls(db, counters, reader, path)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        try:
            await self._reader.close()
        finally:
            try:
                await self._counters.close()
            finally:
                await self._db.close()

    # -- transactions --------------------------------------------------------------------------

    async def _transaction(
        self,
        operation: str,
        db: aiosqlite.Connection,
        lock: asyncio.Lock,
        work: Callable[[], Awaitable[T]],
    ) -> T:
        """Run `work` in one IMMEDIATE transaction; roll back and raise StoreError on failure.

        Shielded: a caller cancelled mid-way (a run's deadline) does not cut the transaction in
        two. Its statements run in aiosqlite's thread regardless, and a BEGIN that completed after
        the rollback would leave the connection inside a transaction for good. It completes (or
        rolls back) on its own: every write here is harmless to complete after its caller left.
        """
        task = asyncio.ensure_future(self._run_transaction(operation, db, lock, work))
        # a cancelled caller no longer awaits the task: fetch its outcome so none is left unseen
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(task)

    async def _run_transaction(
        self,
        operation: str,
        db: aiosqlite.Connection,
        lock: asyncio.Lock,
        work: Callable[[], Awaitable[T]],
    ) -> T:
        async with lock:
            try:
                await db.execute("BEGIN IMMEDIATE")
                result = await work()
                await db.execute("COMMIT")
                return result
            except BaseException as err:
                await self._rollback(db)
                if isinstance(err, sqlite3.Error):
                    raise self._error(operation, err) from err
                raise

    @staticmethod
    async def _rollback(db: aiosqlite.Connection) -> None:
        if not db.in_transaction:
            return
        try:
            await db.execute("ROLLBACK")
        except sqlite3.Error:
            # SQLite already rolled back (e.g. after SQLITE_FULL); nothing more to undo
            pass

    def _error(self, operation: str, err: sqlite3.Error) -> StoreError:
        return StoreError(f"{operation} failed on database {self.path}: {err}")

    @asynccontextmanager
    async def _reading(self, operation: str) -> AsyncIterator[None]:
        # One read at a time: a SELECT still open on the reader connection holds its snapshot,
        # and another read started meanwhile joins it, seeing the store as it was before commits
        # made since (a sink's outbox fetch would miss its own last ack and deliver twice).
        async with self._read_lock:
            try:
                yield
            except sqlite3.Error as err:
                raise self._error(operation, err) from err

    # -- readings ------------------------------------------------------------------------------

    async def save_readings(self, readings: Sequence[Reading]) -> int:
        """Store a batch; returns how many were new. Raises StoreError (nothing written)."""
        return (await self.save_batch(readings)).new

    async def save_batch(self, readings: Sequence[Reading]) -> SaveResult:
        if not readings:
            return SaveResult(new=0)
        new, conflicts = await self._saves.submit(reading_rows(readings))
        return SaveResult(new=new, conflicts=conflicts)

    async def _save_groups(self, groups: list[list[tuple[Any, ...]]]) -> list[SavedRows]:
        now = utc_text(datetime.now(UTC))
        return await self._transaction(
            f"saving {sum(len(rows) for rows in groups)} readings",
            self._db,
            self._write_lock,
            lambda: insert_groups(self._db, groups, now),
        )

    async def conflicts(self, *, meter_id: str | None = None) -> list[ReadingConflict]:
        where, params = ("WHERE meter_id = ?", (meter_id,)) if meter_id is not None else ("", ())
        query = (
            f"SELECT {CONFLICT_COLUMNS} FROM reading_conflicts {where} "
            "ORDER BY first_seen, meter_id, obis, capture_time, new_value"
        )
        async with self._reading("listing reading conflicts"):
            async with self._reader.execute(query, params) as cursor:
                rows = await cursor.fetchall()
        return [conflict_from_row(row) for row in rows]

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
        for column, value in (("meter_id", meter_id), ("obis", obis)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            clauses.append("capture_time >= ?")
            params.append(utc_text(since))
        if until is not None:
            clauses.append("capture_time <= ?")
            params.append(utc_text(until))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = (
            f"SELECT {READING_COLUMNS} FROM readings {where} ORDER BY meter_id, obis, capture_time"
        )
        async with self._reading("listing readings"):
            async with self._reader.execute(query, params) as cursor:
                rows = await cursor.fetchall()
        return [row_reading(row) for row in rows]

    async def _read_column_chunk(
        self, queries: register_columns.ChunkQueries
    ) -> register_columns.ChunkRead:
        async with self._reading("reading register columns"):
            return await register_columns.read_sqlite_chunk(self._reader, queries)

    async def count_readings(self, meter_id: str | None = None) -> int:
        params: tuple[str, ...] = ()
        if meter_id is None:
            query = "SELECT COUNT(*) FROM readings"
        else:
            query, params = "SELECT COUNT(*) FROM readings WHERE meter_id = ?", (meter_id,)
        async with self._reading("counting readings"):
            async with self._reader.execute(query, params) as cursor:
                row = await cursor.fetchone()
        return int(row[0]) if row else 0

    # -- counters ------------------------------------------------------------------------------

    async def load_counter(self, key: str) -> int | None:
        # Under the counters' lock: a SELECT still open on this connection holds a read snapshot,
        # and a reservation's BEGIN IMMEDIATE interleaved with it fails at once with "database
        # is locked" (SQLITE_BUSY_SNAPSHOT, which the busy timeout does not wait out) as soon as
        # another connection has committed since.
        async with self._counter_lock, self._reading(f"loading counter {key!r}"):
            query = "SELECT value FROM counters WHERE key = ?"
            async with self._counters.execute(query, (key,)) as cursor:
                row = await cursor.fetchone()
        return None if row is None else int(row[0])

    async def save_counter(self, key: str, value: int) -> None:
        if value < 0:
            raise ValueError(f"counter {key!r} cannot be negative")

        async def work() -> None:
            await self._counters.execute(_SAVE_COUNTER, (key, value))

        await self._transaction(f"saving counter {key!r}", self._counters, self._counter_lock, work)

    async def reserve_counters(self, key: str, count: int) -> int:
        if count < 1:
            raise ValueError(f"reserve at least one value of counter {key!r}, not {count}")

        async def work() -> int:
            async with self._counters.execute(_RESERVE_COUNTERS, (key, count)) as cursor:
                rows = list(await cursor.fetchall())
            return int(rows[0][0]) - count

        return await self._transaction(
            f"reserving counter {key!r}", self._counters, self._counter_lock, work
        )

    # -- meters' last contact ------------------------------------------------------------------

    async def record_contact(
        self, meter_id: str, *, at: datetime, ok: bool, error: str | None = None
    ) -> None:
        params = {"meter_id": meter_id, "at": utc_text(at), "ok": int(ok), "error": error}
        await self._contact_writes.submit(params)

    async def _write_contacts(self, contacts: list[dict[str, Any]]) -> list[None]:
        async def work() -> None:
            await self._db.executemany(_RECORD_CONTACT, contacts)

        about = contacts_about([contact["meter_id"] for contact in contacts])
        await self._transaction(f"recording contact of {about}", self._db, self._write_lock, work)
        return [None] * len(contacts)

    async def last_contact(self, meter_id: str) -> LastContact | None:
        contacts = await self._contacts("WHERE meter_id = ?", (meter_id,))
        return contacts[0] if contacts else None

    async def last_contacts(self) -> list[LastContact]:
        return await self._contacts("", ())

    async def _contacts(self, where: str, params: tuple[Any, ...]) -> list[LastContact]:
        query = f"SELECT {CONTACT_COLUMNS} FROM meter_contact {where} ORDER BY meter_id"
        async with self._reading("listing last contacts"):
            async with self._reader.execute(query, params) as cursor:
                rows = await cursor.fetchall()
        return [row_contact(row, datetime.fromisoformat) for row in rows]

    # -- events, runs, profile marks -----------------------------------------------------------

    async def save_events(self, events: Sequence[Event]) -> int:
        if not events:
            return 0
        return await self._transaction(
            f"saving {len(events)} events",
            self._db,
            self._write_lock,
            lambda: insert_events(self._db, events),
        )

    async def events(
        self,
        *,
        meter_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        async with self._reading("listing events"):
            return await select_events(
                self._reader, meter_ids=meter_ids, since=since, until=until, limit=limit
            )

    async def save_run(self, run: RunStats) -> None:
        await self._transaction(
            f"saving run {run.run_id!r}",
            self._db,
            self._write_lock,
            lambda: upsert_run(self._db, run),
        )

    async def runs(self, *, plan: str | None = None, limit: int | None = None) -> list[RunStats]:
        async with self._reading("listing runs"):
            return await select_runs(self._reader, plan=plan, limit=limit)

    async def daily_rates(self, *, plan: str | None = None) -> list[DailyRate]:
        async with self._reading("listing daily collection rates"):
            return await select_daily_rates(self._reader, plan=plan)

    async def profile_marks(self, profile: str, meter_ids: Sequence[str]) -> dict[str, datetime]:
        async with self._reading(f"loading marks of profile {profile!r}"):
            return await select_marks(self._reader, profile, meter_ids)

    async def mark_profiles(self, profile: str, marks: dict[str, datetime]) -> None:
        if not marks:
            return
        await self._transaction(
            f"marking profile {profile!r} of {len(marks)} meters",
            self._db,
            self._write_lock,
            lambda: upsert_marks(self._db, profile, marks),
        )

    # -- outbox --------------------------------------------------------------------------------

    async def outbox_fetch(self, sink: str, limit: int) -> list[OutboxEntry]:
        async with self._reading(f"fetching the outbox of sink {sink!r}"):
            return await outbox.fetch(self._reader, sink, limit)

    async def outbox_ack(self, sink: str, seq: int) -> None:
        await self._transaction(
            f"acknowledging the outbox of sink {sink!r}",
            self._db,
            self._write_lock,
            lambda: outbox.ack(self._db, sink, seq),
        )

    async def outbox_status(self, sinks: Sequence[str]) -> list[OutboxStatus]:
        async with self._reading("reading the outbox status"):
            return await outbox.status(self._reader, sinks)

    async def outbox_prune(self, sinks: Sequence[str]) -> int:
        return await self._transaction(
            "pruning the outbox",
            self._db,
            self._write_lock,
            lambda: outbox.prune(self._db, sinks),
        )
