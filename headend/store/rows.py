"""How a `Reading` is laid out in a SQLite row, and back.

Times are stored as UTC ISO-8601 text with microseconds, so text order is time order. Values keep
their type: decimals as their exact text (never a float), datetimes as ISO text, others as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from drivers.contract import Quality, Reading

READING_COLUMNS = (
    "meter_id, obis, capture_time, capture_known, value_type, value, unit, receive_time, quality"
)
# positions in a row tuple from `reading_row`
METER, OBIS, CAPTURE, KNOWN, KIND, VALUE, UNIT, RECEIVED, QUALITY = range(9)


def utc_text(when: datetime) -> str:
    """Canonical stored form; a naive datetime is taken as UTC."""
    if when.tzinfo is UTC:
        # the common case, first: bulk ingest calls this twice per reading
        return when.isoformat(timespec="microseconds")
    if when.tzinfo is None or not when.utcoffset():
        when = when.replace(tzinfo=UTC)
    else:
        when = when.astimezone(UTC)
    return when.isoformat(timespec="microseconds")


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def encode_value(value: Decimal | datetime | str) -> tuple[str, str]:
    if isinstance(value, Decimal):
        return "decimal", format(value, "f")
    if isinstance(value, datetime):
        return "datetime", utc_text(value)
    return "text", value


def decode_value(kind: str, text: str) -> Decimal | datetime | str:
    if kind == "decimal":
        return Decimal(text)
    if kind == "datetime":
        return datetime.fromisoformat(text)
    return text


def reading_rows(readings: Sequence[Reading]) -> list[tuple[Any, ...]]:
    # readings of one session share their receive time: format it once
    received: dict[datetime, str] = {}
    rows = []
    for reading in readings:
        when = reading.receive_time
        text = received.get(when)
        if text is None:
            text = received[when] = utc_text(when)
        rows.append(reading_row(reading, text))
    return rows


def reading_row(reading: Reading, received: str | None = None) -> tuple[Any, ...]:
    """The row of one reading; `received` is its receive time as `utc_text` when known."""
    kind, value = encode_value(reading.value)
    if received is None:
        received = utc_text(reading.receive_time)
    captured = received if reading.capture_time is None else utc_text(reading.capture_time)
    return (
        reading.meter_id,
        reading.obis,
        captured,
        int(reading.capture_time is not None),
        kind,
        value,
        reading.unit,
        received,
        reading.quality.value,
    )


def row_reading(row: Sequence[Any]) -> Reading:
    """The inverse of `reading_row`, for a row selected with `READING_COLUMNS`."""
    return Reading(
        meter_id=row[METER],
        obis=row[OBIS],
        capture_time=datetime.fromisoformat(row[CAPTURE]) if row[KNOWN] else None,
        value=decode_value(row[KIND], row[VALUE]),
        unit=row[UNIT],
        receive_time=datetime.fromisoformat(row[RECEIVED]),
        quality=Quality(row[QUALITY]),
    )
