"""Register units migrations: a SQLite version 5 file becomes version 6 and a PostgreSQL version 3
database version 4, each listing in `register_units` every (meter, register, unit) its readings
were stored in ('' for none), not the units of conflicts; the bulk read then takes a register's
unit from there and still refuses a period stored in two units."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from drivers.contract import Reading
from headend.store import Store, open_store, postgres_schema, schema
from headend.store.register_columns import UnitMismatch
from headend.store.rows import reading_rows
from tests.postgres_server import PostgresServer
from tests.store.old_schemas import postgres_at_version, sqlite_at_version
from tests.store.test_register_columns import EXPORT, IMPORT, T0, reading
from tests.store.test_register_units import stored_units

DAY = timedelta(days=1)
# m1's import in Wh on day 0, in kWh on day 2; m1's export and m2's import in Wh; m2's serial
# without unit
OLD: list[Reading] = [
    reading("m1", IMPORT, Decimal(1000), 0),
    reading("m1", IMPORT, Decimal(2), 60 * 24 * 2, unit="kWh"),
    reading("m1", EXPORT, Decimal(5), 0),
    reading("m2", IMPORT, Decimal(7), 0),
    reading("m2", "0.0.96.1.0.255", "serial", 0).model_copy(update={"unit": None}),
]
WANT = {
    ("m1", IMPORT, "Wh"),
    ("m1", IMPORT, "kWh"),
    ("m1", EXPORT, "Wh"),
    ("m2", IMPORT, "Wh"),
    ("m2", "0.0.96.1.0.255", ""),
}
# a conflict stored before the migration, in a unit no reading has
CONFLICT = ("m2", IMPORT, "9", "varh")


async def reads_as_before(store: Store) -> None:
    """The old readings through the bulk read: one unit per period, two refused."""
    columns = await store.register_columns(["m1", "m2"], [IMPORT, EXPORT], T0, T0 + DAY)
    assert {(c.meter_id, c.obis, c.unit) for c in columns} == {
        ("m1", IMPORT, "Wh"),
        ("m1", EXPORT, "Wh"),
        ("m2", IMPORT, "Wh"),
    }
    with pytest.raises(UnitMismatch, match=r"meter m1 register 1\.0\.1\.8\.0\.255"):
        await store.register_columns(["m1"], [IMPORT], T0, T0 + 3 * DAY)


async def test_a_version_5_file_lists_its_readings_units(tmp_path: Path) -> None:
    path = tmp_path / "v5.sqlite3"
    with sqlite3.connect(path) as db:
        sqlite_at_version(db, 5)
        db.executemany("INSERT INTO readings VALUES (?,?,?,?,?,?,?,?,?)", reading_rows(OLD))
        meter, obis, value, unit = CONFLICT
        at = T0.isoformat(timespec="microseconds")
        db.execute(
            "INSERT INTO reading_conflicts VALUES (?, ?, ?, '7', ?, ?, ?, ?, ?)",
            (meter, obis, at, value, unit, at, at, at),
        )
    store = await open_store(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 6
        assert await stored_units(str(path)) == WANT
        await reads_as_before(store)
    finally:
        await store.close()


async def test_a_version_3_postgres_database_lists_its_readings_units(
    postgres_server: PostgresServer, pg_database: str
) -> None:
    url = postgres_server.url(pg_database)
    conn = await asyncpg.connect(url)
    try:
        await postgres_at_version(conn, 3)
        await conn.executemany(
            "INSERT INTO readings VALUES ($1, $2, $3, true, $4, $5, $6, $7, 'ok')",
            [
                (r.meter_id, r.obis, r.capture_time, *row[4:7], r.receive_time)
                for r, row in zip(OLD, reading_rows(OLD), strict=True)
            ],
        )
        meter, obis, value, unit = CONFLICT
        await conn.execute(
            "INSERT INTO reading_conflicts VALUES ($1, $2, $3, '7', $4, $5, $3, $3, $3)",
            meter,
            obis,
            T0,
            value,
            unit,
        )
    finally:
        await conn.close()
    store = await open_store(url)
    try:
        conn = await asyncpg.connect(url)
        try:
            version = await conn.fetchval("SELECT version FROM schema_version")
            assert version == postgres_schema.SCHEMA_VERSION == 4
        finally:
            await conn.close()
        assert await stored_units(url) == WANT
        await reads_as_before(store)
    finally:
        await store.close()
