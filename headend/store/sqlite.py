"""SQLite implementation of the store (aiosqlite, WAL journal): the embedded default.

Times are stored as UTC ISO-8601 text with microseconds, so text order is time order. Values keep
their type: decimals as their exact text (never a float), datetimes as ISO text, others as text.
One connection serves the process; a lock makes each multi-statement write one transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

import aiosqlite

from drivers.contract import Quality, Reading
from headend.store.base import LastContact, ReadingConflict, SaveResult

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    meter_id      TEXT NOT NULL,
    obis          TEXT NOT NULL,
    capture_time  TEXT NOT NULL,   -- the meter's capture time, else the receive time
    capture_known INTEGER NOT NULL, -- 0: capture_time above is the receive time
    value_type    TEXT NOT NULL,   -- decimal | datetime | text
    value         TEXT NOT NULL,
    unit          TEXT,
    receive_time  TEXT NOT NULL,
    quality       TEXT NOT NULL,
    PRIMARY KEY (meter_id, obis, capture_time)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_by_time ON readings (capture_time);
CREATE TABLE IF NOT EXISTS counters (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meter_contact (
    meter_id   TEXT PRIMARY KEY,
    at         TEXT NOT NULL,
    ok         INTEGER NOT NULL,
    error      TEXT,
    last_ok_at TEXT
);
"""

_INSERT_READING = """
INSERT OR IGNORE INTO readings
    (meter_id, obis, capture_time, capture_known, value_type, value, unit, receive_time, quality)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

# MAX() in the upsert keeps the counter monotonic in one atomic statement.
_SAVE_COUNTER = """
INSERT INTO counters (key, value) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET value = MAX(value, excluded.value)
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


def utc_text(when: datetime) -> str:
    """Canonical stored form; a naive datetime is taken as UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _encode_value(value: Decimal | datetime | str) -> tuple[str, str]:
    if isinstance(value, Decimal):
        return "decimal", format(value, "f")
    if isinstance(value, datetime):
        return "datetime", utc_text(value)
    return "text", value


def _decode_value(kind: str, text: str) -> Decimal | datetime | str:
    if kind == "decimal":
        return Decimal(text)
    if kind == "datetime":
        return datetime.fromisoformat(text)
    return text


def _row(reading: Reading) -> tuple[Any, ...]:
    kind, value = _encode_value(reading.value)
    captured = reading.capture_time or reading.receive_time
    return (
        reading.meter_id,
        reading.obis,
        utc_text(captured),
        int(reading.capture_time is not None),
        kind,
        value,
        reading.unit,
        utc_text(reading.receive_time),
        reading.quality.value,
    )


class SqliteStore:
    """`Store` over one SQLite file. Open with `await SqliteStore.open(path)` or `async with`."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> SqliteStore:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, timeout=30.0)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.executescript(SCHEMA)
            await db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            await db.commit()
        except BaseException:
            await db.close()
            raise
        return cls(db, path)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._db.close()

    # -- readings ------------------------------------------------------------------------------

    async def save_readings(self, readings: Sequence[Reading]) -> int:
        return (await self.save_batch(readings)).new

    async def conflicts(self, *, meter_id: str | None = None) -> list[ReadingConflict]:
        return []

    async def save_batch(self, readings: Sequence[Reading]) -> SaveResult:
        return SaveResult(new=await self._save(readings))

    async def _save(self, readings: Sequence[Reading]) -> int:
        if not readings:
            return 0
        rows = [_row(r) for r in readings]
        async with self._write_lock:
            before = self._db.total_changes
            try:
                await self._db.executemany(_INSERT_READING, rows)
                await self._db.commit()
            except BaseException:
                await self._db.rollback()
                raise
            return self._db.total_changes - before

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
            "SELECT meter_id, obis, capture_time, capture_known, value_type, value, unit, "
            f"receive_time, quality FROM readings {where} ORDER BY meter_id, obis, capture_time"
        )
        async with self._db.execute(query, params) as cursor:
            rows = await cursor.fetchall()
        return [
            Reading(
                meter_id=row[0],
                obis=row[1],
                capture_time=datetime.fromisoformat(row[2]) if row[3] else None,
                value=_decode_value(row[4], row[5]),
                unit=row[6],
                receive_time=datetime.fromisoformat(row[7]),
                quality=Quality(row[8]),
            )
            for row in rows
        ]

    async def count_readings(self, meter_id: str | None = None) -> int:
        params: tuple[str, ...] = ()
        if meter_id is None:
            query = "SELECT COUNT(*) FROM readings"
        else:
            query, params = "SELECT COUNT(*) FROM readings WHERE meter_id = ?", (meter_id,)
        async with self._db.execute(query, params) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    # -- counters ------------------------------------------------------------------------------

    async def load_counter(self, key: str) -> int | None:
        async with self._db.execute("SELECT value FROM counters WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else int(row[0])

    async def reserve_counters(self, key: str, count: int) -> int:
        async with self._write_lock:
            await self._db.execute(
                "INSERT INTO counters (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
                (key, count),
            )
            await self._db.commit()
        return (await self.load_counter(key) or count) - count

    async def save_counter(self, key: str, value: int) -> None:
        if value < 0:
            raise ValueError(f"counter {key!r} cannot be negative")
        async with self._write_lock:
            await self._db.execute(_SAVE_COUNTER, (key, value))
            await self._db.commit()

    # -- meters' last contact ------------------------------------------------------------------

    async def record_contact(
        self, meter_id: str, *, at: datetime, ok: bool, error: str | None = None
    ) -> None:
        params = {"meter_id": meter_id, "at": utc_text(at), "ok": int(ok), "error": error}
        async with self._write_lock:
            await self._db.execute(_RECORD_CONTACT, params)
            await self._db.commit()

    async def last_contact(self, meter_id: str) -> LastContact | None:
        contacts = await self._contacts("WHERE meter_id = ?", (meter_id,))
        return contacts[0] if contacts else None

    async def last_contacts(self) -> list[LastContact]:
        return await self._contacts("", ())

    async def _contacts(self, where: str, params: tuple[Any, ...]) -> list[LastContact]:
        query = f"SELECT meter_id, at, ok, error, last_ok_at FROM meter_contact {where}"
        async with self._db.execute(query + " ORDER BY meter_id", params) as cursor:
            rows = await cursor.fetchall()
        return [
            LastContact(
                meter_id=row[0],
                at=datetime.fromisoformat(row[1]),
                ok=bool(row[2]),
                error=row[3],
                last_ok_at=_parse_time(row[4]),
            )
            for row in rows
        ]
