"""The SQLite store's tables of two-way control: commands and their audit log, load cycles, the
latest values the load manager reads, and demand-response events (a part of `SqliteStore`,
kept apart so each file holds one concern)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import aiosqlite

from drivers.contract import Reading
from headend.commands.model import AuditEntry, CommandRecord, CommandState
from headend.config.load import DemandResponseEvent
from headend.load.metrics import LoadCycle
from headend.store import commands, demand_response

T = TypeVar("T")


class SqliteControlTables:
    """Commands, audit, load cycles and demand response over the store's connections."""

    _db: aiosqlite.Connection
    _reader: aiosqlite.Connection
    _write_lock: asyncio.Lock

    if TYPE_CHECKING:

        async def _transaction(
            self,
            operation: str,
            db: aiosqlite.Connection,
            lock: asyncio.Lock,
            work: Callable[[], Awaitable[T]],
        ) -> T: ...

        def _reading(self, operation: str) -> AbstractAsyncContextManager[None]: ...

    # -- commands, audit, load cycles ----------------------------------------------------------

    async def save_command(self, record: CommandRecord, *, new: bool = False) -> CommandRecord:
        return await self._transaction(
            f"saving command {record.id!r}",
            self._db,
            self._write_lock,
            lambda: commands.save_command(self._db, record, new=new),
        )

    async def command(self, command_id: str) -> CommandRecord | None:
        async with self._reading(f"loading command {command_id!r}"):
            return await commands.select_command(self._reader, command_id)

    async def commands(
        self,
        *,
        meter: str | None = None,
        parent: str | None = None,
        states: Sequence[CommandState] | None = None,
        limit: int | None = None,
    ) -> list[CommandRecord]:
        async with self._reading("listing commands"):
            return await commands.select_commands(
                self._reader, meter=meter, parent=parent, states=states, limit=limit
            )

    async def audit(
        self,
        *,
        meter: str | None = None,
        command_id: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        async with self._reading("listing the command audit"):
            return await commands.select_audit(
                self._reader, meter=meter, command_id=command_id, limit=limit
            )

    async def save_load_cycles(self, cycles: Sequence[LoadCycle]) -> None:
        if not cycles:
            return
        await self._transaction(
            f"saving {len(cycles)} load cycles",
            self._db,
            self._write_lock,
            lambda: commands.upsert_cycles(self._db, cycles),
        )

    async def load_cycles(
        self, *, feeder: str | None = None, since: datetime | None = None
    ) -> list[LoadCycle]:
        async with self._reading("listing load cycles"):
            return await commands.select_cycles(self._reader, feeder=feeder, since=since)

    async def latest_values(
        self,
        obis: str,
        meter_ids: Sequence[str] | None = None,
        since: datetime | None = None,
    ) -> dict[str, Reading]:
        async with self._reading(f"loading the latest {obis} values"):
            return await commands.select_latest(self._reader, obis, meter_ids, since)

    # -- demand response -----------------------------------------------------------------------

    async def save_demand_response(
        self,
        event: DemandResponseEvent,
        requester: str,
        *,
        reason: str = "",
        at: datetime | None = None,
    ) -> DemandResponseEvent:
        when = datetime.now(UTC) if at is None else at
        return await self._transaction(
            f"saving demand-response event {event.id!r} version {event.version}",
            self._db,
            self._write_lock,
            lambda: demand_response.save(self._db, event, requester, reason, when),
        )

    async def demand_responses(
        self, active_at: datetime | None = None
    ) -> list[DemandResponseEvent]:
        async with self._reading("listing demand-response events"):
            return await demand_response.select_latest(self._reader, active_at)
