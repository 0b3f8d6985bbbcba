"""A tiny test-only CounterStore on a SQLite file, so two processes can share counters."""

from __future__ import annotations

import sqlite3
from pathlib import Path


class SqliteCounters:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        with sqlite3.connect(self.path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER)")

    async def load_counter(self, key: str) -> int | None:
        with sqlite3.connect(self.path) as db:
            row = db.execute("SELECT value FROM counters WHERE key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    async def save_counter(self, key: str, value: int) -> None:
        with sqlite3.connect(self.path) as db:
            db.execute(
                "INSERT INTO counters (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
                (key, value),
            )
