"""The SQLite store on a real file: its journal mode. The protocol tests (idempotent readings,
monotonic counters, last contact) run on every backend in tests/store/test_basics.py."""

from __future__ import annotations

import sqlite3

from headend.store import SqliteStore


async def test_store_uses_wal(tmp_path):
    async with await SqliteStore.open(tmp_path / "s.sqlite3"):
        with sqlite3.connect(tmp_path / "s.sqlite3") as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
