"""Persistent store: readings (and conflicting readings), invocation counters, meters' last contact,
events, run statistics, the outbox, commands, load cycles and demand-response events.

SQLite by default (`SqliteStore`); PostgreSQL (`PostgresStore`) for a shared, production store,
chosen by the database URL (`open_store`). Schemas are migrated by version on open. Failures
raise `StoreError` after a rollback; see `base.py` for the guarantees every store gives.
"""

from __future__ import annotations

from pathlib import Path

from headend.store.base import (
    ContactLog,
    LastContact,
    ReadingConflict,
    ReadingSink,
    SaveResult,
    StaleDemandResponse,
    Store,
    StoreError,
)
from headend.store.postgres import PostgresStore
from headend.store.sqlite import SqliteStore

STORE_FORMS = (
    "a SQLite file path, sqlite:///path, or postgresql://user[:password]@host[:port]/database "
    "(also postgres://)"
)


async def open_store(target: Path | str) -> Store:
    """Open the store a database URL names: a bare path or `sqlite:///path` is a SQLite file,
    `postgresql://` or `postgres://` a PostgreSQL database; anything else is a ValueError."""
    text = str(target)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("postgresql", "postgres"):
        return await PostgresStore.open(text)
    if scheme == "sqlite":
        if not text.startswith("sqlite:///") or text == "sqlite:///":
            raise ValueError(f"a SQLite URL is sqlite:///path; use {STORE_FORMS}")
        text = text[len("sqlite:///") :]
    elif scheme:
        raise ValueError(f"unsupported database URL scheme {scheme!r}; use {STORE_FORMS}")
    return await SqliteStore.open(text)


__all__ = [
    "ContactLog",
    "LastContact",
    "PostgresStore",
    "ReadingConflict",
    "ReadingSink",
    "SaveResult",
    "SqliteStore",
    "StaleDemandResponse",
    "Store",
    "StoreError",
    "open_store",
]
