"""The PostgreSQL store's tables of two-way control: commands and their audit log, load cycles,
the latest values the load manager reads, and demand-response events (a part of
`PostgresStore`, kept apart so each file holds one concern)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import asyncpg

from drivers.contract import Reading
from headend.commands.model import AuditEntry, CommandRecord, CommandState
from headend.config.load import DemandResponseEvent
from headend.load.metrics import LoadCycle
from headend.store import postgres_commands, postgres_demand_response
from headend.store.postgres_ingest import aware

T = TypeVar("T")


class PostgresControlTables:
    """Commands, audit, load cycles and demand response over the store's pool."""

    if TYPE_CHECKING:

        async def _transaction(
            self, operation: str, work: Callable[[asyncpg.Connection], Awaitable[T]]
        ) -> T: ...

        async def _query(
            self, operation: str, work: Callable[[asyncpg.Connection], Awaitable[T]]
        ) -> T: ...

    # -- commands, audit, load cycles ----------------------------------------------------------

    async def save_command(self, record: CommandRecord, *, new: bool = False) -> CommandRecord:
        return await self._transaction(
            f"saving command {record.id!r}",
            lambda c: postgres_commands.save_command(c, record, new=new),
        )

    async def command(self, command_id: str) -> CommandRecord | None:
        return await self._query(
            f"loading command {command_id!r}",
            lambda c: postgres_commands.select_command(c, command_id),
        )

    async def commands(
        self,
        *,
        meter: str | None = None,
        parent: str | None = None,
        states: Sequence[CommandState] | None = None,
        limit: int | None = None,
    ) -> list[CommandRecord]:
        return await self._query(
            "listing commands",
            lambda c: postgres_commands.select_commands(
                c, meter=meter, parent=parent, states=states, limit=limit
            ),
        )

    async def audit(
        self,
        *,
        meter: str | None = None,
        command_id: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        return await self._query(
            "listing the command audit",
            lambda c: postgres_commands.select_audit(
                c, meter=meter, command_id=command_id, limit=limit
            ),
        )

    async def save_load_cycles(self, cycles: Sequence[LoadCycle]) -> None:
        if cycles:
            await self._transaction(
                f"saving {len(cycles)} load cycles",
                lambda c: postgres_commands.upsert_cycles(c, cycles),
            )

    async def load_cycles(
        self, *, feeder: str | None = None, since: datetime | None = None
    ) -> list[LoadCycle]:
        return await self._query(
            "listing load cycles",
            lambda c: postgres_commands.select_cycles(c, feeder=feeder, since=since),
        )

    async def latest_values(
        self,
        obis: str,
        meter_ids: Sequence[str] | None = None,
        since: datetime | None = None,
    ) -> dict[str, Reading]:
        return await self._query(
            f"loading the latest {obis} values",
            lambda c: postgres_commands.select_latest(c, obis, meter_ids, since),
        )

    # -- demand response -----------------------------------------------------------------------

    async def save_demand_response(
        self,
        event: DemandResponseEvent,
        requester: str,
        *,
        reason: str = "",
        at: datetime | None = None,
    ) -> DemandResponseEvent:
        when = aware(datetime.now(UTC) if at is None else at)
        return await self._transaction(
            f"saving demand-response event {event.id!r} version {event.version}",
            lambda c: postgres_demand_response.save(c, event, requester, reason, when),
        )

    async def demand_responses(
        self, active_at: datetime | None = None
    ) -> list[DemandResponseEvent]:
        return await self._query(
            "listing demand-response events",
            lambda c: postgres_demand_response.select_latest(c, active_at),
        )
