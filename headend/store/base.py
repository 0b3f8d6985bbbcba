"""The store interface: readings, invocation counters, meters' last contact, events, run
statistics, profile progress, the outbox, commands with their audit log, load cycles and
demand-response events.

SQLite (`sqlite.py`) is the embedded default; PostgreSQL (`postgres.py`) implements the same
`Store` protocol. Everything is async and every write is idempotent:

* readings are unique on (meter, OBIS, capture time); storing the same reading again is a no-op.
  A value without a capture time from the meter (an instantaneous register) is keyed on the time it
  was *received*, so two reads of a register at different moments are two observations, while a
  retried save of one read is not a duplicate. `capture_time` stays None on read-back.
* a reading with the key of a stored one but a *different* value (compared as stored: type and
  exact text; the unit and quality are not compared) is a conflict: the stored value stays, the
  new one is kept in a conflicts table (once per distinct value) and returned in
  `SaveResult.conflicts` every time it is saved again, never silently dropped.
* a failed write raises `StoreError` after rolling back: nothing of the batch is half-written, and
  the caller still holds the readings (keep them for a retry and fail the run loudly).
* events are unique on `Event.key` (origin, meter, channel, code, time): the same log entry read
  twice, or read after it was pushed, is stored once.
* the outbox: every reading and event *new to the store* (and every run's statistics) gets an
  outbox entry in the same transaction that stores it, so nothing stored is missed and nothing is
  queued twice. Each sink has its own cursor: it fetches entries after its cursor in order and
  acknowledges what it delivered. Entries every known sink has acknowledged can be pruned.
* demand-response events are unique on (id, version): saving a stored version again is a no-op,
  and a version not newer than the stored latest is refused (`StaleDemandResponse`). Each saved
  version writes a head-end event (code 1030, `demand_response`) in the same transaction: who
  asked and what changed.
* counters never move backwards (DLMS invocation counters; see `drivers.contract.CounterStore`);
  client counters are handed out in blocks by one atomic, durable step (`reserve_counters`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from drivers.contract import Reading
from headend.commands.model import AuditEntry, CommandRecord, CommandState
from headend.config.load import DemandResponseEvent
from headend.events.model import Event
from headend.load.metrics import LoadCycle
from headend.runs.model import DailyRate, RunStats
from headend.store.register_columns import RegisterColumns


class StoreError(Exception):
    """A store operation failed; the message names the operation, the database and the cause.

    Raised after the transaction was rolled back, so nothing of the failed write is stored.
    Never carries a secret (no keys, no passwords of a database URL).
    """


class StaleDemandResponse(ValueError):
    """A demand-response version that is not newer than the one stored for its id (and is not
    that very version): refused, nothing written. A caller's mistake, not a store failure."""


class ReadingConflict(BaseModel):
    """A reading whose key (meter, OBIS, capture time) is stored with a different value."""

    model_config = ConfigDict(frozen=True)

    meter_id: str
    obis: str
    capture_time: datetime  # the key: the meter's capture time, else the receive time
    stored_value: str
    new_value: str
    unit: str | None
    receive_time: datetime  # when the conflicting value was received


class SaveResult(BaseModel):
    """What a batch save did: rows new to the store, and readings that conflicted."""

    model_config = ConfigDict(frozen=True)

    new: int
    conflicts: list[ReadingConflict] = []


class LastContact(BaseModel):
    """The outcome of the latest attempt to talk to a meter."""

    model_config = ConfigDict(frozen=True)

    meter_id: str
    at: datetime
    ok: bool
    error: str | None = None
    last_ok_at: datetime | None = None


class OutboxEntry(BaseModel):
    """One queued item for the sinks: exactly one of `reading`, `event`, `run` is set."""

    model_config = ConfigDict(frozen=True)

    seq: int  # increasing in commit order; a sink's cursor is the last seq it delivered
    kind: Literal["reading", "event", "run"]
    created_at: datetime
    reading: Reading | None = None
    event: Event | None = None
    run: RunStats | None = None


class OutboxStatus(BaseModel):
    """How far behind one sink is."""

    model_config = ConfigDict(frozen=True)

    sink: str
    depth: int  # entries after its cursor
    oldest_at: datetime | None  # created_at of the oldest undelivered entry
    delivered_seq: int  # its cursor


class ReadingSink(Protocol):
    """Where readings go as they are obtained (the store, or a CLI collecting them)."""

    async def save_readings(self, readings: Sequence[Reading]) -> int:
        """Store a batch in one transaction; returns how many were new."""
        ...


class ContactLog(Protocol):
    async def record_contact(
        self, meter_id: str, *, at: datetime, ok: bool, error: str | None = None
    ) -> None: ...


@runtime_checkable
class Store(ReadingSink, ContactLog, Protocol):
    async def save_batch(self, readings: Sequence[Reading]) -> SaveResult:
        """Store a batch in one transaction (idempotent); conflicts are kept and returned.

        Raises `StoreError` (after a rollback) when the write fails."""
        ...

    async def conflicts(self, *, meter_id: str | None = None) -> list[ReadingConflict]:
        """Stored conflicts, oldest first."""
        ...

    async def readings(
        self,
        *,
        meter_id: str | None = None,
        obis: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Reading]:
        """Readings ordered by meter, OBIS and capture (or receive) time; bounds inclusive."""
        ...

    async def register_columns(
        self,
        meter_ids: Sequence[str],
        obis: Sequence[str],
        since: datetime,
        until: datetime,
        *,
        instants: Sequence[datetime] | None = None,
        scale: Mapping[str | None, int] | None = None,
    ) -> list[RegisterColumns]:
        """Decimal values of these meters and registers in [since, until], one time-ordered
        column set per (meter, register): the meter's captures, or, for a register the meter
        never stamped, its plain reads at their receive times (billing's bulk read).
        `instants`: only values at those instants (daily registers). `scale`: values in a unit
        it names come multiplied by 10^exponent (Wh -> kWh: -3), exactly. `UnitMismatch` when
        a register changed unit within the span."""
        ...

    async def count_readings(self, meter_id: str | None = None) -> int: ...

    async def load_counter(self, key: str) -> int | None: ...

    async def save_counter(self, key: str, value: int) -> None:
        """Persist `value` unless the stored one is larger (atomic; never backwards)."""
        ...

    async def reserve_counters(self, key: str, count: int) -> int:
        """Atomically and durably reserve `count` values of `key`; returns the first."""
        ...

    async def last_contact(self, meter_id: str) -> LastContact | None: ...

    async def last_contacts(self) -> list[LastContact]: ...

    # -- events ---------------------------------------------------------------------------------

    async def save_events(self, events: Sequence[Event]) -> int:
        """Store events, once per `Event.key`; returns how many were new (those get outbox
        entries). Raises `StoreError` after a rollback."""
        ...

    async def events(
        self,
        *,
        meter_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Events ordered by time then key; bounds on `Event.time`, inclusive."""
        ...

    # -- run statistics -------------------------------------------------------------------------

    async def save_run(self, run: RunStats) -> None:
        """Store (or replace, by run_id) a run's statistics; a new run gets an outbox entry."""
        ...

    async def runs(self, *, plan: str | None = None, limit: int | None = None) -> list[RunStats]:
        """Runs, newest first."""
        ...

    async def daily_rates(self, *, plan: str | None = None) -> list[DailyRate]:
        """Collection success per plan and UTC day of `started_at`, by plan then day."""
        ...

    # -- profile progress -----------------------------------------------------------------------

    async def profile_marks(self, profile: str, meter_ids: Sequence[str]) -> dict[str, datetime]:
        """The last capture time stored for each meter's `profile` (meters never read: absent)."""
        ...

    async def mark_profiles(self, profile: str, marks: dict[str, datetime]) -> None:
        """Record last capture times; a mark never moves backwards."""
        ...

    # -- outbox ---------------------------------------------------------------------------------

    async def outbox_fetch(self, sink: str, limit: int) -> list[OutboxEntry]:
        """Up to `limit` entries after `sink`'s cursor, in seq order."""
        ...

    async def outbox_ack(self, sink: str, seq: int) -> None:
        """Move `sink`'s cursor to `seq` (never backwards)."""
        ...

    async def outbox_status(self, sinks: Sequence[str]) -> list[OutboxStatus]: ...

    async def outbox_prune(self, sinks: Sequence[str]) -> int:
        """Delete entries every one of `sinks` has acknowledged (all entries if `sinks` is
        empty: nobody consumes them); returns how many."""
        ...

    # -- commands and their audit log ----------------------------------------------------------

    async def save_command(self, record: CommandRecord, *, new: bool = False) -> CommandRecord:
        """Store the record and its audit row (actor: the requester, time: `updated_at`) in one
        transaction; returns what is stored. `new`: insert only if the id is unknown (a known
        id returns the stored record and writes nothing). Otherwise the state is updated unless
        the stored one is final (then the stored record is returned, nothing written)."""
        ...

    async def command(self, command_id: str) -> CommandRecord | None: ...

    async def commands(
        self,
        *,
        meter: str | None = None,
        parent: str | None = None,
        states: Sequence[CommandState] | None = None,
        limit: int | None = None,
    ) -> list[CommandRecord]:
        """Commands by creation time, then id."""
        ...

    async def audit(
        self,
        *,
        meter: str | None = None,
        command_id: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Audit entries in the order written; with `limit`, the newest `limit` of them."""
        ...

    # -- the load manager -----------------------------------------------------------------------

    async def save_load_cycles(self, cycles: Sequence[LoadCycle]) -> None:
        """Store cycles (replaced by feeder and time)."""
        ...

    async def load_cycles(
        self, *, feeder: str | None = None, since: datetime | None = None
    ) -> list[LoadCycle]:
        """Cycles by time, then feeder; `since` inclusive."""
        ...

    async def latest_values(
        self,
        obis: str,
        meter_ids: Sequence[str] | None = None,
        since: datetime | None = None,
    ) -> dict[str, Reading]:
        """The newest stored reading of `obis` per meter (by its capture time, else receive
        time), at or after `since`; meters without one are absent."""
        ...

    # -- demand response -----------------------------------------------------------------------

    async def save_demand_response(
        self,
        event: DemandResponseEvent,
        requester: str,
        *,
        reason: str = "",
        at: datetime | None = None,
    ) -> DemandResponseEvent:
        """Store a version of a demand-response event with its audit event (code 1030, time
        `at`, default now) in one transaction; returns what is stored. The same (id, version)
        again returns the stored version and writes nothing; a version not newer than the
        stored latest raises `StaleDemandResponse`."""
        ...

    async def demand_responses(
        self, active_at: datetime | None = None
    ) -> list[DemandResponseEvent]:
        """The latest version of every stored event (cancelled ones too), by start then id; with
        `active_at`, only those in force then (not cancelled, start <= at < end + spread)."""
        ...

    async def close(self) -> None: ...
