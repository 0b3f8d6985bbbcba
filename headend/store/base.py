"""The store interface: readings, invocation counters and meters' last contact.

SQLite (`sqlite.py`) is the embedded default; PostgreSQL can implement the same `Store` protocol
later. Everything is async and every write is idempotent:

* readings are unique on (meter, OBIS, capture time); storing the same reading again is a no-op.
  A value without a capture time from the meter (an instantaneous register) is keyed on the time it
  was *received*, so two reads of a register at different moments are two observations, while a
  retried save of one read is not a duplicate. `capture_time` stays None on read-back.
* counters never move backwards (DLMS invocation counters; see `drivers.contract.CounterStore`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from drivers.contract import Reading


class LastContact(BaseModel):
    """The outcome of the latest attempt to talk to a meter."""

    model_config = ConfigDict(frozen=True)

    meter_id: str
    at: datetime
    ok: bool
    error: str | None = None
    last_ok_at: datetime | None = None


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

    async def count_readings(self, meter_id: str | None = None) -> int: ...

    async def load_counter(self, key: str) -> int | None: ...

    async def save_counter(self, key: str, value: int) -> None:
        """Persist `value` unless the stored one is larger (atomic; never backwards)."""
        ...

    async def last_contact(self, meter_id: str) -> LastContact | None: ...

    async def last_contacts(self) -> list[LastContact]: ...

    async def close(self) -> None: ...
