"""The one driver contract every protocol implements (compare OpenMUC's driver SPI).

A `MeterSession` is one open association with one meter. Quantities are named by OBIS codes
whatever the protocol; a driver translates them to registers, data identifiers or COSEM objects.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, Self, runtime_checkable

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from drivers.errors import DriverError
from drivers.obis import ObisCode


class Quality(StrEnum):
    OK = "ok"
    ESTIMATED = "estimated"
    SUSPECT = "suspect"
    CLOCK_ADJUSTED = "clock-adjusted"
    # the meter's clock said invalid/doubtful or had drifted: the value is keyed on the
    # receive time (capture_time None), not on a meter time that may repeat
    CLOCK_SUSPECT = "clock-suspect"


class Point(BaseModel):
    """A quantity to read, named by its OBIS code.

    `class_id`/`attribute` are COSEM hints for DLMS; other protocols ignore them. When `class_id`
    is None the DLMS driver picks the usual interface class for that OBIS group.
    """

    model_config = ConfigDict(frozen=True)

    obis: ObisCode
    class_id: int | None = None
    attribute: int = 2


class Reading(BaseModel):
    """One value read from a meter. Immutable.

    `value` is a Decimal for every numeric quantity (never a float, so energy adds up exactly);
    a clock read gives a datetime; anything else (a text or a status) a str.
    """

    model_config = ConfigDict(frozen=True)

    meter_id: str
    obis: ObisCode
    value: Decimal | datetime | str
    unit: str | None = None
    capture_time: datetime | None = None
    receive_time: datetime
    quality: Quality = Quality.OK


# one set shared by every trusted Reading: a frozen model never adds to it (pydantic copies it
# for model_copy), and one tracked object less per reading is less for the cyclic GC to walk
_ALL_SET: set[str] = set(Reading.model_fields)
_new_model = BaseModel.__new__
_set_attr = object.__setattr__


def trusted_reading(
    meter_id: str,
    obis: str,
    value: Decimal | datetime | str,
    unit: str | None,
    capture_time: datetime | None,
    receive_time: datetime,
    quality: Quality,
) -> Reading:
    """A `Reading` from values a driver has already typed (canonical OBIS, Decimal/datetime/str
    value, aware datetimes), without validation: what `Reading.model_construct` sets, without
    its generic per-field work (a third of a load profile's CPU at ~200 readings per meter-day).
    Every field counts as set, as when all are passed to `Reading(...)`."""
    reading = _new_model(Reading)
    _set_attr(
        reading,
        "__dict__",
        {
            "meter_id": meter_id,
            "obis": obis,
            "value": value,
            "unit": unit,
            "capture_time": capture_time,
            "receive_time": receive_time,
            "quality": quality,
        },
    )
    _set_attr(reading, "__pydantic_fields_set__", _ALL_SET)
    _set_attr(reading, "__pydantic_extra__", None)
    _set_attr(reading, "__pydantic_private__", None)
    return reading


class CommandKind(StrEnum):
    DISCONNECT = "disconnect"
    RECONNECT = "reconnect"
    SET_LOAD_LIMIT = "set_load_limit"
    CLEAR_LOAD_LIMIT = "clear_load_limit"
    TIME_SYNC = "time_sync"
    SET_TARIFF = "set_tariff"


class Command(BaseModel):
    """A command for one meter. `id` makes it idempotent end to end."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    kind: CommandKind
    limit_w: Decimal | None = Field(default=None, ge=0, description="for set_load_limit")
    lease_s: int | None = Field(
        default=None,
        gt=0,
        description="for set_load_limit: the meter itself drops the limit after this many "
        "seconds unless the command is sent again (renewed); None = until cleared",
    )
    time: datetime | None = Field(
        default=None,
        description="for time_sync: the time to set, None = now (UTC); for set_load_limit with "
        "a lease: when the lease starts, None = now on the meter's clock",
    )
    tariff: str | None = Field(
        default=None,
        description="for set_tariff: name of the activity calendar (tariff programme) to activate",
    )


class CommandResult(BaseModel):
    """What a meter made of a command, as read back from it.

    `ok=True, armed=False`: the meter reads back in the commanded state. `ok=True, armed=True`:
    a reconnect the meter accepted but only armed (DLMS disconnect control state 2,
    ready_for_reconnection): the customer must press the button. `ok=False`: refused, or read
    back in another state. A channel failure raises a `DriverError` instead (nobody knows then
    whether the command took effect; the caller decides whether to retry).
    """

    model_config = ConfigDict(frozen=True)

    command_id: str
    meter_id: str
    ok: bool
    detail: str = ""
    completed_at: datetime
    armed: bool = False


class PartialRead(DriverError):
    """Some points could not be read. Carries every reading that did succeed, so none is lost.

    `failures` holds one typed error per failed point; `fatal` tells whether the session is dead
    (a timeout or closed channel) or still usable (only some objects were refused).
    """

    kind = "partial read"

    def __init__(
        self,
        readings: list[Reading],
        failures: list[DriverError],
        *,
        fatal: bool,
        meter: str | None = None,
    ) -> None:
        self.readings = readings
        self.failures = failures
        self.fatal = fatal
        first = failures[0] if failures else None
        super().__init__(
            f"{len(failures)} point(s) failed" + (f", first: {first}" if first else ""),
            meter=meter,
        )


@runtime_checkable
class MeterSession(Protocol):
    """One open association with one meter."""

    meter_id: str

    async def read(self, points: Sequence[Point]) -> list[Reading]:
        """Read the points; on any failure raise `PartialRead` carrying what was read."""
        ...

    async def read_profile(self, profile: Point, start: datetime, end: datetime) -> list[Reading]:
        """Read a load profile between two instants; one Reading per captured value."""
        ...

    async def execute(self, command: Command) -> CommandResult: ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...


class CounterStore(Protocol):
    """Persistent integer counters (DLMS invocation counters). Implemented by the head-end store."""

    async def load_counter(self, key: str) -> int | None: ...

    async def save_counter(self, key: str, value: int) -> None:
        """Persist `value`; implementations must never move a counter backwards."""
        ...

    async def reserve_counters(self, key: str, count: int) -> int:
        """Atomically and durably reserve `count` consecutive values of counter `key` and return the
        first; the stored value becomes first + count (the next value nobody holds). Two callers,
        in one process or two, never get overlapping blocks. Durable (fsync'd) before it returns."""
        ...


class MeterEvent(BaseModel):
    """One event a meter recorded: an entry of one of its event logs, or a pushed notification.

    `code` is the meter's event code (DLMS: the IDIS/Blue Book numbering of the log's event code
    object), `time` the meter's own clock at the event (UTC-aware), so reading the same log entry
    again, or reading the entry of an event that was pushed, gives the same (meter, code, time).
    """

    model_config = ConfigDict(frozen=True)

    meter_id: str
    code: int = Field(ge=0)
    time: AwareDatetime = Field(description="the meter's time of the event")
    log: str = Field(description="OBIS code of the event log it was read from, or 'push'")
    name: str = Field(description="short stable name of the code, e.g. power_down")
    text: str = Field(description="the standard text of the code")

    @field_validator("time")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        # one time base, so equal instants compare and key equal whatever offset was sent
        return value.astimezone(UTC)


@runtime_checkable
class EventLogReader(Protocol):
    """A session that can read a meter's event logs (DLMS; Modbus and DL/T 645 meters here
    have none). The head-end checks `isinstance(session, EventLogReader)`."""

    meter_id: str

    async def read_events(self, log: Point, start: datetime, end: datetime) -> list[MeterEvent]:
        """The log's entries whose time lies in [start, end], oldest first."""
        ...
