"""The JSON messages published for readings, events and run summaries (MQTT payloads).

Every message carries `schema_version` (bumped on any incompatible change) and a stable `id`:
a reading's id hashes its store key (meter, OBIS, capture time else receive time), an event's is
`Event.key`, a run's is its run id. Delivery is at-least-once, so a consumer that must not count
a value twice keeps the ids it has seen.

A reading message has the fields of `headend read --json` (meter, obis, value as exact text,
unit, capture_time, quality) plus `id`, `schema_version` and `receive_time` (the instant that
keys an instantaneous value, which has no capture time). A `ReadingsMessage` carries several
readings of one meter, each exactly such an object, in outbox order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict

from drivers.contract import Reading
from headend.events.model import Event
from headend.runs.model import RunStats, RunTrigger

SCHEMA_VERSION: Literal[1] = 1


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    id: str


def value_text(value: Decimal | datetime | str) -> str:
    """The value as `headend read --json` prints it: exact decimal text, never an exponent."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def reading_id(meter_id: str, obis: str, key_time: datetime) -> str:
    """Stable id of a stored reading: the same (meter, OBIS, key time) gives the same id
    whichever time zone the instant is expressed in."""
    instant = key_time.astimezone(UTC).isoformat() if key_time.tzinfo else key_time.isoformat()
    text = f"{meter_id}|{obis}|{instant}"
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


class ReadingMessage(_Message):
    meter: str
    obis: str
    value: str
    unit: str | None
    capture_time: datetime | None
    receive_time: datetime
    quality: str

    @classmethod
    def of(cls, reading: Reading) -> ReadingMessage:
        key = reading.capture_time or reading.receive_time
        # The fields come from an already validated Reading: construct without re-validating
        # (the outbox drains tens of thousands of these a second).
        return cls.model_construct(
            schema_version=SCHEMA_VERSION,
            id=reading_id(reading.meter_id, reading.obis, key),
            meter=reading.meter_id,
            obis=reading.obis,
            value=value_text(reading.value),
            unit=reading.unit,
            capture_time=reading.capture_time,
            receive_time=reading.receive_time,
            quality=reading.quality.value,
        )


class ReadingsMessage(BaseModel):
    """Readings of one meter in one message (MQTT `readings_per_message` > 1): one publish costs
    the Python MQTT client far more than serialising a reading, so a meter's readings travel
    together. The group has no id of its own: a consumer dedupes by each reading's `id`.

    This model documents and parses the payload; `readings_json` writes it."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    meter: str
    readings: list[ReadingMessage]


class _ReadingFields(TypedDict):
    """The fields of `ReadingMessage`, same names, types and order (a test holds them equal)."""

    schema_version: int
    id: str
    meter: str
    obis: str
    value: str
    unit: str | None
    capture_time: datetime | None
    receive_time: datetime
    quality: str


class _ReadingsFields(TypedDict):
    schema_version: int
    meter: str
    readings: list[_ReadingFields]


# Plain dicts through one serializer: less than half the CPU of building a ReadingMessage per
# reading (model_construct dominates), with the same JSON since the types are the same.
_READINGS_JSON = TypeAdapter(_ReadingsFields)


def readings_json(meter_id: str, readings: Sequence[Reading]) -> bytes:
    """The JSON of a `ReadingsMessage` of `readings` (all of meter `meter_id`), in their order."""
    return _READINGS_JSON.dump_json(
        {
            "schema_version": SCHEMA_VERSION,
            "meter": meter_id,
            "readings": [
                {
                    "schema_version": SCHEMA_VERSION,
                    "id": reading_id(
                        reading.meter_id, reading.obis, reading.capture_time or reading.receive_time
                    ),
                    "meter": reading.meter_id,
                    "obis": reading.obis,
                    "value": value_text(reading.value),
                    "unit": reading.unit,
                    "capture_time": reading.capture_time,
                    "receive_time": reading.receive_time,
                    "quality": reading.quality.value,
                }
                for reading in readings
            ],
        }
    )


class EventMessage(_Message):
    origin: str
    meter: str | None
    channel: str | None
    code: int
    name: str
    text: str
    time: datetime
    received_at: datetime
    source: str
    cause: str | None

    @classmethod
    def of(cls, event: Event) -> EventMessage:
        return cls(
            id=event.key,
            origin=event.origin.value,
            meter=event.meter_id,
            channel=event.channel_id,
            code=event.code,
            name=event.name,
            text=event.text,
            time=event.time,
            received_at=event.received_at,
            source=event.source,
            cause=event.cause,
        )


class RunMessage(_Message):
    """A plan run's summary, as stored in the run statistics."""

    plan: str
    trigger: RunTrigger
    scheduled_for: datetime | None
    started_at: datetime
    duration_s: float
    attempted: int
    ok: int
    partial: int
    failed: int
    failed_by_cause: dict[str, int] = Field(default_factory=dict)
    rereads: int
    readings: int
    stored: int

    @classmethod
    def of(cls, run: RunStats) -> RunMessage:
        return cls(
            id=run.run_id,
            plan=run.plan,
            trigger=run.trigger,
            scheduled_for=run.scheduled_for,
            started_at=run.started_at,
            duration_s=run.duration_s,
            attempted=run.attempted,
            ok=run.ok,
            partial=run.partial,
            failed=run.failed,
            failed_by_cause=dict(run.failed_by_cause),
            rereads=run.rereads,
            readings=run.readings,
            stored=run.stored,
        )
