"""Bulk reads of numeric register values for billing and exports: many meters and registers over
a period, one column set per (meter, register).

A month of 15-minute load profile for 1,000 meters is ~6 million values; a row object per value
would cost more than the billing itself. The database aggregates each (meter, register) into
one row (SQLite: `group_concat` along the primary key, so in time order; PostgreSQL:
`array_agg ... ORDER BY`), and Python splits the columns with C-level calls.

Values the meter stamped (a profile capture, a billing freeze) come at their capture time. A
register that was only ever read without a meter time (a Modbus meter's energy register) comes
at the times it was received, marked `captured=False`; such reads are left out where the meter
gives captures, since they only repeat the profile between its points. Only decimal values.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from headend.store.rows import utc_text
from headend.store.scaled_ints import ScaledInts, parse_integers


@dataclass(frozen=True, slots=True)
class RegisterColumns:
    meter_id: str
    obis: str
    unit: str | None  # one unit for the whole column (mixed units: `UnitMismatch`)
    captured: bool  # the meter gave the times (False: receive times of plain reads)
    times: list[datetime]  # aware UTC, increasing (may be shared between columns: never mutate)
    values: Sequence[Decimal]  # `ScaledInts` when every stored value is a whole number
    flagged: dict[datetime, str]  # the times whose stored quality is not "ok", and that quality
    scaled_by: int = 0  # the values are the stored ones times 10^scaled_by (`scale`)

    def __len__(self) -> int:
        return len(self.times)


class UnitMismatch(ValueError):
    """One register of one meter stored in two units over the period (named)."""


# Placeholders per query: well under SQLite's limit (32,766) and PostgreSQL's array sizes.
METERS_PER_QUERY = 500

_SQLITE = """
SELECT meter_id, obis, min(unit), max(unit), count(unit), count(*),
       group_concat(capture_time, ','), group_concat(value, ','),
       group_concat(CASE WHEN quality <> 'ok' THEN capture_time || '=' || quality END, ',')
FROM readings
WHERE meter_id IN ({meters}) AND obis IN ({codes})
  AND capture_time >= ? AND capture_time <= ?
  AND value_type = 'decimal' AND capture_known = ? {time_of_day}
GROUP BY meter_id, obis
"""

_POSTGRES = """
SELECT meter_id, obis, min(unit), max(unit), count(unit), count(*),
       array_agg(capture_time ORDER BY capture_time), array_agg(value ORDER BY capture_time),
       array_agg(capture_time ORDER BY capture_time) FILTER (WHERE quality <> 'ok'),
       array_agg(quality ORDER BY capture_time) FILTER (WHERE quality <> 'ok')
FROM readings
WHERE meter_id = ANY($1::text[]) AND obis = ANY($2::text[])
  AND capture_time >= $3 AND capture_time <= $4
  AND value_type = 'decimal' AND capture_known = $5 {time_of_day}
GROUP BY meter_id, obis
"""


def sqlite_query(
    meter_ids: Sequence[str],
    obis: Sequence[str],
    since: datetime,
    until: datetime,
    *,
    captured: bool,
    instants: Sequence[datetime] | None,
) -> tuple[str, list[object]]:
    """`instants`: only values at those instants (daily registers: point lookups on the primary
    key, not a scan of the profile between them)."""
    clause = ""
    if instants:
        clause = f"AND capture_time IN ({','.join('?' * len(instants))})"
    query = _SQLITE.format(
        meters=",".join("?" * len(meter_ids)), codes=",".join("?" * len(obis)), time_of_day=clause
    )
    params: list[object] = [*meter_ids, *obis, utc_text(since), utc_text(until), int(captured)]
    params += [utc_text(at) for at in instants or ()]
    return query, params


def postgres_query(
    meter_ids: Sequence[str],
    obis: Sequence[str],
    since: datetime,
    until: datetime,
    *,
    captured: bool,
    instants: Sequence[datetime] | None,
) -> tuple[str, list[object]]:
    clause = ""
    params: list[object] = [list(meter_ids), list(obis), since, until, captured]
    if instants:
        clause = "AND capture_time = ANY($6::timestamptz[])"
        params.append(list(instants))
    return _POSTGRES.format(time_of_day=clause), params


def _unit(
    meter: str, obis: str, low: str | None, high: str | None, units: int, rows: int
) -> str | None:
    if low != high or (units and units != rows):
        raise UnitMismatch(
            f"meter {meter} register {obis}: stored in more than one unit "
            f"({low!r} and {high!r}) over the period"
        )
    return low


def from_sqlite(
    rows: Iterable[Sequence[Any]], captured: bool, scale: Mapping[str | None, int] | None = None
) -> list[RegisterColumns]:
    times_of: dict[str, datetime] = {}
    parse = datetime.fromisoformat
    out: list[RegisterColumns] = []
    # a fleet's profiles share one grid: columns with the same times share one list, parsed once
    grids: dict[str, list[datetime]] = {}
    for meter, obis, low, high, units, count, times_text, values_text, flagged_text in rows:
        unit = _unit(str(meter), str(obis), low, high, int(units), int(count))
        exponent = (scale or {}).get(unit, 0)
        values_text = str(values_text)
        times = grids.get(times_text)
        values: Sequence[Decimal]
        if times is not None:
            values = _column(values_text, exponent)
        else:
            texts = str(times_text).split(",")
            if texts == sorted(texts):  # the scan follows the primary key; never trust it blindly
                values = _column(values_text, exponent)
            else:
                pairs = sorted(
                    zip(texts, _scaled_text(values_text, exponent).split(","), strict=True)
                )
                texts = [t for t, _ in pairs]
                values = list(map(Decimal, (v for _, v in pairs)))
            times = [times_of.get(t) or times_of.setdefault(t, parse(t)) for t in texts]
            grids[",".join(texts)] = times
        flagged: dict[datetime, str] = {}
        if flagged_text:
            for item in str(flagged_text).split(","):
                when, _, quality = item.partition("=")
                flagged[parse(when)] = quality
        out.append(
            RegisterColumns(str(meter), str(obis), unit, captured, times, values, flagged, exponent)
        )
    return out


def _scaled_text(text: str, exponent: int) -> str:
    """10^exponent in the text itself: one string operation, exact ("1049058E-3")."""
    return text.replace(",", f"E{exponent},") + f"E{exponent}" if exponent else text


def _column(text: str, exponent: int) -> Sequence[Decimal]:
    """A column's comma-separated values in time order, times 10^exponent: whole numbers (the
    common case) parsed by numpy into `ScaledInts`, anything else into Decimals."""
    ints = parse_integers(text)
    if ints is not None:
        return ScaledInts(ints, exponent)
    return list(map(Decimal, _scaled_text(text, exponent).split(",")))


def from_postgres(
    rows: Iterable[Sequence[Any]], captured: bool, scale: Mapping[str | None, int] | None = None
) -> list[RegisterColumns]:
    out: list[RegisterColumns] = []
    for meter, obis, low, high, units, count, times, values, flagged_at, flagged_q in rows:
        unit = _unit(str(meter), str(obis), low, high, int(units), int(count))
        exponent = (scale or {}).get(unit, 0)
        texts = values if not exponent else [f"{v}E{exponent}" for v in values]
        out.append(
            RegisterColumns(
                str(meter),
                str(obis),
                unit,
                captured,
                list(times),
                list(map(Decimal, texts)),
                dict(zip(flagged_at or (), flagged_q or (), strict=True)),
                exponent,
            )
        )
    return out


Fetch = Callable[[bool, Sequence[str]], Awaitable[list[RegisterColumns]]]


async def read_columns(
    fetch: Fetch, meter_ids: Sequence[str], obis: Sequence[str]
) -> list[RegisterColumns]:
    """Captured columns for every (meter, register) that has any; plain reads for the others.
    `fetch(captured, meters)` runs one query for up to METERS_PER_QUERY meters."""
    step = METERS_PER_QUERY
    out: list[RegisterColumns] = []
    for first in range(0, len(meter_ids), step):
        out += await fetch(True, meter_ids[first : first + step])
    have = {(c.meter_id, c.obis) for c in out}
    lacking = [m for m in meter_ids if any((m, code) not in have for code in obis)]
    for first in range(0, len(lacking), step):
        plain = await fetch(False, lacking[first : first + step])
        out += [c for c in plain if (c.meter_id, c.obis) not in have]
    return out
