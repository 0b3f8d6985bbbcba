"""Saving readings as they are read, without losing them when the store fails.

A store failure is not a meter failure: the readings stay in `Saver.unsaved`, are offered again
before the next save and at the end of the run, and if the store still refuses them then, the run
fails loudly (`RunFailed`, naming the store and how many readings are kept). When the sink can say
where its database is (`path`), the kept readings are also written to a spool file beside it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from drivers.contract import MeterEvent, Reading
from headend.store.base import ReadingSink, SaveResult, StoreError

LOG = logging.getLogger(__name__)

STORE_ERRORS: tuple[type[BaseException], ...] = (StoreError, sqlite3.Error, OSError)


@runtime_checkable
class BatchSink(Protocol):
    """A sink that reports conflicts (readings whose key is stored with another value)."""

    async def save_batch(self, readings: Sequence[Reading]) -> SaveResult: ...


EventSink = Callable[[str, list[MeterEvent]], Awaitable[None]]
"""Stores the entries read from one meter's event log: (channel id, events)."""


class RunFailed(Exception):
    """The run could not store what it read; the readings are kept (see `kept`, `spool`)."""

    def __init__(
        self, message: str, *, kept: int, spool: Path | None, report: object = None
    ) -> None:
        super().__init__(message)
        self.kept = kept
        self.spool = spool
        self.report = report  # the run's RunReport: what was read, per meter


class Saver:
    """Saves through the sink and keeps what the store refused."""

    def __init__(self, sink: ReadingSink | BatchSink, events: EventSink | None = None) -> None:
        self.sink = sink
        self.events = events  # where meters' event log entries go (None: not collected)
        self.unsaved: list[Reading] = []
        self.last_error: str | None = None

    async def save(self, readings: Sequence[Reading]) -> tuple[int, int]:
        """Store `readings` (after any kept ones); returns (new rows, conflicts) for them.
        Never raises for a store failure: the readings are kept instead."""
        if self.unsaved:
            await self.flush()
        if not readings:
            return 0, 0
        if self.unsaved:  # the store is still failing: keep order, do not hammer it
            self.unsaved.extend(readings)
            return 0, 0
        try:
            return await self._write(readings)
        except STORE_ERRORS as exc:
            self._failed(exc, len(readings))
            self.unsaved.extend(readings)
            return 0, 0

    async def flush(self) -> bool:
        """Offer the kept readings again; True when none are left."""
        if not self.unsaved:
            return True
        batch = self.unsaved
        try:
            await self._write(batch)
        except STORE_ERRORS as exc:
            self._failed(exc, len(batch))
            return False
        LOG.info("store recovered: %d kept readings saved", len(batch))
        self.unsaved = []
        self.last_error = None
        return True

    def spool(self) -> Path | None:
        """Write the kept readings as JSON lines beside the sink's database, if it has a path
        (rewritten whole each time: they also stay in `unsaved` for the next run)."""
        where = getattr(self.sink, "path", None)
        if not self.unsaved or not isinstance(where, (str, Path)):
            return None
        path = Path(f"{where}.unsaved.jsonl")
        try:
            with path.open("w", encoding="utf-8") as handle:
                for reading in self.unsaved:
                    handle.write(reading.model_dump_json() + "\n")
        except OSError as exc:
            LOG.error("cannot spool %d readings to %s: %s", len(self.unsaved), path, exc)
            return None
        return path

    async def _write(self, readings: Sequence[Reading]) -> tuple[int, int]:
        if isinstance(self.sink, BatchSink):
            result = await self.sink.save_batch(readings)
            return result.new, len(result.conflicts)
        return await self.sink.save_readings(readings), 0

    def _failed(self, exc: BaseException, count: int) -> None:
        self.last_error = str(exc) or type(exc).__name__
        LOG.warning("store failed, keeping %d readings for a retry: %s", count, self.last_error)
