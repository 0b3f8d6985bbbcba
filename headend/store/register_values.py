"""Bulk reads of numeric register values for billing and exports: many meters and registers over
a period in one query, as plain tuples.

A month of 15-minute load profile for 1,000 meters is ~6 million rows; building a pydantic
`Reading` for each would cost more than the billing itself. Only decimal values qualify. A value
the meter stamped (a profile capture, a billing freeze) comes at its capture time; a register read
without one (a Modbus meter's energy register) at the time it was received, flagged by
`captured=False`, so billing can tell a capture on the profile grid from a read between two.
Rows come ordered by meter, OBIS and time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from headend.store.rows import utc_text


class RegisterValue(NamedTuple):
    meter_id: str
    obis: str
    capture_time: datetime  # aware UTC: the meter's capture time, else the receive time
    value: Decimal
    unit: str | None
    quality: str  # the stored Quality value: ok, estimated, suspect, clock-adjusted, ...
    captured: bool  # the meter gave the time (False: the time the value was received)


# Placeholders per query: well under SQLite's limit (32,766) and PostgreSQL's array sizes.
METERS_PER_QUERY = 500

SQLITE_QUERY = """
SELECT meter_id, obis, capture_time, value, unit, quality, capture_known FROM readings
WHERE meter_id IN ({meters}) AND obis IN ({codes})
  AND capture_time >= ? AND capture_time <= ?
  AND value_type = 'decimal'
ORDER BY meter_id, obis, capture_time
"""

POSTGRES_QUERY = """
SELECT meter_id, obis, capture_time, value, unit, quality, capture_known FROM readings
WHERE meter_id = ANY($1::text[]) AND obis = ANY($2::text[])
  AND capture_time >= $3 AND capture_time <= $4
  AND value_type = 'decimal'
ORDER BY meter_id, obis, capture_time
"""


def sqlite_query(
    meter_ids: Sequence[str], obis: Sequence[str], since: datetime, until: datetime
) -> tuple[str, list[str]]:
    query = SQLITE_QUERY.format(
        meters=",".join("?" * len(meter_ids)), codes=",".join("?" * len(obis))
    )
    return query, [*meter_ids, *obis, utc_text(since), utc_text(until)]


def from_sqlite_rows(rows: Iterable[Sequence[object]]) -> list[RegisterValue]:
    # capture times repeat across meters (one profile grid): parse each text once
    times: dict[str, datetime] = {}
    parse = datetime.fromisoformat
    out: list[RegisterValue] = []
    append = out.append
    for meter, code, captured, value, unit, quality, known in rows:
        text = str(captured)
        when = times.get(text)
        if when is None:
            when = times[text] = parse(text)
        append(
            RegisterValue(
                str(meter),
                str(code),
                when,
                Decimal(str(value)),
                None if unit is None else str(unit),
                str(quality),
                bool(known),
            )
        )
    return out


def from_postgres_rows(rows: Sequence[Sequence[object]]) -> list[RegisterValue]:
    return [
        RegisterValue(str(m), str(c), t, Decimal(str(v)), u, str(q), bool(k))  # type: ignore[arg-type]
        for m, c, t, v, u, q, k in rows
    ]
