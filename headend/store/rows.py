"""How a `Reading` is laid out in a SQLite row, and back.

Times are stored as UTC ISO-8601 text with microseconds, so text order is time order. Values keep
their type: decimals as their exact text (never a float), datetimes as ISO text, others as text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
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


def aware(when: datetime) -> datetime:
    """A naive time is UTC (as `utc_text` takes it), never the machine's local time."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def encode_value(value: Decimal | datetime | str) -> tuple[str, str]:
    if isinstance(value, Decimal):
        # str() is format(value, "f") unless it chose an exponent, at a quarter of the cost
        text = str(value)
        return "decimal", format(value, "f") if "E" in text else text
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
    """The rows of a batch, as `reading_row` lays them out, in one pass: the readings of a
    session share their receive time, and a fleet's profiles their capture times, so each
    instant is formatted once (`_time_text`)."""
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    encode = encode_value
    text_of = _time_text
    quality_text = _QUALITY_TEXT
    for reading in readings:
        kind, text = encode(reading.value)
        received = text_of(reading.receive_time)
        captured = reading.capture_time
        append(
            (
                reading.meter_id,
                reading.obis,
                received if captured is None else text_of(captured),
                0 if captured is None else 1,
                kind,
                text,
                reading.unit,
                received,
                quality_text[reading.quality],
            )
        )
    return rows


# a member's `.value` is a property: a dict lookup is a fifth of its cost
_QUALITY_TEXT = {quality: quality.value for quality in Quality}
# equal instants have one text whatever their timezone, so caching by the datetime is exact
_time_text = functools.lru_cache(maxsize=4096)(utc_text)


def reading_row(
    reading: Reading, received: str | None = None, captured: str | None = None
) -> tuple[Any, ...]:
    """The row of one reading; `received` and `captured` are its times as `utc_text` when
    already known."""
    kind, value = encode_value(reading.value)
    if received is None:
        received = utc_text(reading.receive_time)
    if captured is None:
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


def row_reading(
    row: Sequence[Any], time: Callable[[Any], datetime] = datetime.fromisoformat
) -> Reading:
    """The inverse of `reading_row`, for a row selected with `READING_COLUMNS`; `time` reads a
    stored time (PostgreSQL's driver hands out datetimes already)."""
    return Reading(
        meter_id=row[METER],
        obis=row[OBIS],
        capture_time=time(row[CAPTURE]) if row[KNOWN] else None,
        value=decode_value(row[KIND], row[VALUE]),
        unit=row[UNIT],
        receive_time=time(row[RECEIVED]),
        quality=Quality(row[QUALITY]),
    )
