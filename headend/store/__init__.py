"""Persistent store: readings (and conflicting readings), invocation counters, meters' last contact.

SQLite by default (`SqliteStore`, schema migrated by version on open). Failures raise `StoreError`
after a rollback; see `base.py` for the guarantees every store gives.
"""

from __future__ import annotations

from pathlib import Path

from headend.store.base import (
    ContactLog,
    LastContact,
    ReadingConflict,
    ReadingSink,
    SaveResult,
    Store,
    StoreError,
)
from headend.store.sqlite import SqliteStore


async def open_store(target: Path | str) -> Store:
    """Open the store named by a path or `sqlite:///path` (PostgreSQL joins here later)."""
    text = str(target)
    if text.startswith("sqlite:///"):
        text = text.removeprefix("sqlite:///")
    elif "://" in text:
        raise ValueError(f"unsupported store {text.split('://', 1)[0]!r}; use a SQLite file path")
    return await SqliteStore.open(text)


__all__ = [
    "ContactLog",
    "LastContact",
    "ReadingConflict",
    "ReadingSink",
    "SaveResult",
    "SqliteStore",
    "Store",
    "StoreError",
    "open_store",
]
