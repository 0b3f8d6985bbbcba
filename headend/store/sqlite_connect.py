"""Opening a connection to the SQLite store's file: WAL journal, the synchronous level asked, a busy
timeout (writers of several processes queue on SQLite's lock)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiosqlite

BUSY_TIMEOUT_S = 30.0


async def connect(path: Path, synchronous: str, busy_timeout_s: float) -> aiosqlite.Connection:
    db = await aiosqlite.connect(path, timeout=busy_timeout_s, isolation_level=None)
    try:
        await wal(db, busy_timeout_s)
        await db.execute(f"PRAGMA synchronous={synchronous}")
    except BaseException:
        await db.close()
        raise
    return db


async def wal(db: aiosqlite.Connection, busy_timeout_s: float) -> None:
    """Switch to WAL. On a new file that other connections are creating and migrating at the
    same moment, the switch can fail at once with "database is locked" (SQLite does not call the
    busy handler for it): try again, within the busy timeout, as the handler would."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + busy_timeout_s
    while True:
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or loop.time() >= give_up:
                raise
        await asyncio.sleep(0.01)
