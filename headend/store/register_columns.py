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

A column holds one unit. A register only ever stored in one unit (`register_units`, which the
ingest keeps) takes it from there; any other (two units ever, none, or not listed) is checked row
by row over the period, and refused with `UnitMismatch` when the period mixes units. All of a
chunk's statements read one snapshot, so a unit stored between them is never missed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

import aiosqlite
import asyncpg

from headend.store.rows import aware, utc_text
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

Pair = tuple[str, str]  # (meter, register)
Statement = tuple[str, list[object]]  # SQL and its parameters
Run = Callable[[str, list[object]], Awaitable[Sequence[Sequence[Any]]]]
ChunkRead = tuple[Sequence[Sequence[Any]], dict[Pair, str | None]]  # column rows, their units

# the row-by-row check, only for registers not listed in one unit: over every row it cost ~1 ms of
# ~7 ms CPU per meter-month of a NEM12 export
_UNIT_CHECK = "SELECT meter_id, obis, min(unit), max(unit), count(unit), count(*)"

_SQLITE_COLUMNS = """
SELECT meter_id, obis, group_concat(capture_time, ','), group_concat(value, ','),
       group_concat(CASE WHEN quality <> 'ok' THEN capture_time || '=' || quality END, ',')
"""

_SQLITE_FROM = """
FROM readings
WHERE meter_id IN ({meters}) AND obis IN ({codes})
  AND capture_time >= ? AND capture_time <= ?
  AND value_type = 'decimal' AND capture_known = ? {time_of_day}
GROUP BY meter_id, obis
"""

_SQLITE_UNITS = (
    "SELECT meter_id, obis, unit FROM register_units "
    "WHERE meter_id IN ({meters}) AND obis IN ({codes})"
)

_POSTGRES_COLUMNS = """
SELECT meter_id, obis,
       array_agg(capture_time ORDER BY capture_time), array_agg(value ORDER BY capture_time),
       array_agg(capture_time ORDER BY capture_time) FILTER (WHERE quality <> 'ok'),
       array_agg(quality ORDER BY capture_time) FILTER (WHERE quality <> 'ok')
"""

_POSTGRES_FROM = """
FROM readings
WHERE meter_id = ANY($1::text[]) AND obis = ANY($2::text[])
  AND capture_time >= $3 AND capture_time <= $4
  AND value_type = 'decimal' AND capture_known = $5 {time_of_day}
GROUP BY meter_id, obis
"""

_POSTGRES_UNITS = (
    "SELECT meter_id, obis, unit FROM register_units "
    "WHERE meter_id = ANY($1::text[]) AND obis = ANY($2::text[])"
)


@dataclass(frozen=True, slots=True)
class ChunkQueries:
    """One chunk's statements in a store's dialect: its columns, the units its registers were
    ever stored in, and the row-by-row unit check of the given meters' and registers' columns."""

    columns: Statement
    units: Statement
    check: Callable[[Sequence[str], Sequence[str]], Statement]


@dataclass(frozen=True, slots=True)
class Chunk:
    """What one chunk reads: these meters' and registers' values in [since, until], those the
    meter stamped (`captured`) or its plain reads; `instants`: only values at those instants
    (daily registers: point lookups on the primary key, not a scan of the profile between)."""

    meter_ids: Sequence[str]
    obis: Sequence[str]
    since: datetime
    until: datetime
    captured: bool
    instants: Sequence[datetime] | None


def sqlite_query(chunk: Chunk) -> ChunkQueries:
    meter_ids, obis, instants = chunk.meter_ids, chunk.obis, chunk.instants
    since, until = utc_text(chunk.since), utc_text(chunk.until)
    clause = ""
    if instants:
        clause = f"AND capture_time IN ({','.join('?' * len(instants))})"

    def over(select: str, meters: Sequence[str], codes: Sequence[str]) -> Statement:
        where = _SQLITE_FROM.format(
            meters=",".join("?" * len(meters)), codes=",".join("?" * len(codes)), time_of_day=clause
        )
        params: list[object] = [*meters, *codes, since, until, int(chunk.captured)]
        params += [utc_text(at) for at in instants or ()]
        return select + where, params

    units = _SQLITE_UNITS.format(
        meters=",".join("?" * len(meter_ids)), codes=",".join("?" * len(obis))
    )
    return ChunkQueries(
        over(_SQLITE_COLUMNS, meter_ids, obis),
        (units, [*meter_ids, *obis]),
        lambda meters, codes: over(_UNIT_CHECK, meters, codes),
    )


def postgres_query(chunk: Chunk) -> ChunkQueries:
    instants = chunk.instants
    clause = "AND capture_time = ANY($6::timestamptz[])" if instants else ""
    since, until = aware(chunk.since), aware(chunk.until)

    def over(select: str, meters: Sequence[str], codes: Sequence[str]) -> Statement:
        params: list[object] = [list(meters), list(codes), since, until, chunk.captured]
        if instants:
            params.append(list(instants))
        return select + _POSTGRES_FROM.format(time_of_day=clause), params

    return ChunkQueries(
        over(_POSTGRES_COLUMNS, chunk.meter_ids, chunk.obis),
        (_POSTGRES_UNITS, [list(chunk.meter_ids), list(chunk.obis)]),
        lambda meters, codes: over(_UNIT_CHECK, meters, codes),
    )


async def read_chunk(run: Run, queries: ChunkQueries) -> ChunkRead:
    """A chunk's column rows and the unit of each column. `run` executes one statement; all of
    them inside one read transaction (one snapshot), so a unit stored meanwhile is not missed.
    `UnitMismatch` when a column holds two units."""
    rows = await run(*queries.columns)
    ever: dict[Pair, list[str]] = {}
    for meter, code, unit in await run(*queries.units):
        ever.setdefault((str(meter), str(code)), []).append(str(unit))
    # '' (no unit) is checked too: a NULL unit and an empty one are told apart, as before
    units: dict[Pair, str | None] = {
        pair: found[0] for pair, found in ever.items() if len(found) == 1 and found[0]
    }
    unchecked = {(str(row[0]), str(row[1])) for row in rows}.difference(units)
    if unchecked:
        meters, codes = sorted({m for m, _ in unchecked}), sorted({c for _, c in unchecked})
        for meter, code, low, high, count_units, count in await run(*queries.check(meters, codes)):
            if (meter, code) in unchecked:  # the check's meters x registers may name others
                units[(meter, code)] = _unit(meter, code, low, high, int(count_units), int(count))
    return rows, units


async def read_sqlite_chunk(reader: aiosqlite.Connection, queries: ChunkQueries) -> ChunkRead:
    """`read_chunk` in one read transaction of `reader` (autocommit mode, used by nobody else
    meanwhile)."""

    async def run(query: str, params: list[object]) -> Sequence[Sequence[Any]]:
        async with reader.execute(query, params) as cursor:
            return list(await cursor.fetchall())

    try:
        await reader.execute("BEGIN")
        return await read_chunk(run, queries)
    finally:
        # shielded, and queued after whatever is still queued: a cancelled caller must not leave
        # the reader inside this snapshot for good (later reads would miss every commit since)
        await asyncio.shield(_end_read(reader))


async def _end_read(reader: aiosqlite.Connection) -> None:
    try:
        await reader.execute("COMMIT")
    except sqlite3.OperationalError:
        pass  # cancelled before the BEGIN ran: no transaction to end


async def read_postgres_chunk(conn: asyncpg.Connection, queries: ChunkQueries) -> ChunkRead:
    """`read_chunk` in one read-only repeatable-read transaction (one snapshot) on `conn`."""

    async def run(query: str, params: list[object]) -> Sequence[Sequence[Any]]:
        return list(await conn.fetch(query, *params))

    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await read_chunk(run, queries)


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
    rows: Iterable[Sequence[Any]],
    units: Mapping[Pair, str | None],
    captured: bool,
    scale: Mapping[str | None, int] | None = None,
) -> list[RegisterColumns]:
    times_of: dict[str, datetime] = {}
    parse = datetime.fromisoformat
    out: list[RegisterColumns] = []
    # a fleet's profiles share one grid: columns with the same times share one list, parsed once
    grids: dict[str, list[datetime]] = {}
    for meter, obis, times_text, values_text, flagged_text in rows:
        unit = units[(meter, obis)]
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
    rows: Iterable[Sequence[Any]],
    units: Mapping[Pair, str | None],
    captured: bool,
    scale: Mapping[str | None, int] | None = None,
) -> list[RegisterColumns]:
    out: list[RegisterColumns] = []
    for meter, obis, times, values, flagged_at, flagged_q in rows:
        unit = units[(meter, obis)]
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


Parse = Callable[
    [Iterable[Sequence[Any]], Mapping[Pair, str | None], bool, Mapping[str | None, int] | None],
    list[RegisterColumns],
]


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one store spells a chunk's statements and lays out the column rows they return."""

    query: Callable[[Chunk], ChunkQueries]
    parse: Parse


SQLITE = Dialect(sqlite_query, from_sqlite)
POSTGRES = Dialect(postgres_query, from_postgres)


class ColumnReads:
    """`Store.register_columns` for both stores: the chunks and the choice between captured and
    plain columns are the same; a store names its dialect and reads one chunk's statements in
    its own read transaction (`_read_column_chunk`)."""

    _column_dialect: ClassVar[Dialect]

    async def _read_column_chunk(self, queries: ChunkQueries) -> ChunkRead:
        raise NotImplementedError

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
        """See `Store.register_columns`."""
        dialect = self._column_dialect

        async def fetch(captured: bool, meters: Sequence[str]) -> list[RegisterColumns]:
            queries = dialect.query(Chunk(meters, obis, since, until, captured, instants))
            rows, units = await self._read_column_chunk(queries)
            return dialect.parse(rows, units, captured, scale)

        return await read_columns(fetch, meter_ids, obis)
