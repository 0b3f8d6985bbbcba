"""Profile generic objects (class 7) of the simulated meter: load profile and event log.

A profile is a list of capture objects (columns) and a buffer of rows. GET of the buffer accepts
selective access by range (access selector 1, restricted on the clock column, from/to inclusive,
optionally projecting selected columns) and by entry (selector 2, 1-based, 0 = up to the last).
Access parameters are read with `drivers.dlms.server.values` (the codec stays in drivers/dlms).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from typing import Any

from drivers.dlms.server import values as v
from drivers.dlms.server.model import AccessFailure, DataAccessResult
from drivers.obis import parse_obis
from drivers.sim.physics import CLOCK, EXPORT_TOTAL, IMPORT_TOTAL, SimulatedMeter
from drivers.sim.profile_log import from_us

CLOCK_CLASS = 8
REGISTER_CLASS = 3
DATA_CLASS = 1
EVENT_CODE = "0.0.96.11.0.255"

RANGE_SELECTOR = 1
ENTRY_SELECTOR = 2


@dataclass(frozen=True, slots=True)
class Column:
    class_id: int
    obis: str
    attribute: int = 2
    data_index: int = 0

    def descriptor(self) -> v.Data:
        return v.structure(
            v.long_unsigned(self.class_id),
            v.octets(bytes(parse_obis(self.obis))),
            v.integer(self.attribute),
            v.long_unsigned(self.data_index),
        )

    def matches(self, other: Column) -> bool:
        return (self.class_id, self.obis, self.attribute) == (
            other.class_id,
            other.obis,
            other.attribute,
        )


# A row: its clock, and each cell already in its A-XDR encoding (a buffer is joined bytes).
Row = tuple[datetime, list[bytes]]


@dataclass(frozen=True, slots=True)
class ProfileSpec:
    """One profile: its columns, capture period (s, 0 = on event) and how to list its rows.

    `rows_between` lists only the rows in a clock range (the collector's every read), without
    building the rest of a deep profile.
    """

    columns: tuple[Column, ...]
    capture_period: int
    rows: Callable[[SimulatedMeter], list[Row]]
    depth: Callable[[SimulatedMeter], int]
    rows_between: Callable[[SimulatedMeter, datetime, datetime], list[list[bytes]]] | None = None
    entries: Callable[[SimulatedMeter], int] | None = None


def _load_profile_rows(meter: SimulatedMeter) -> list[Row]:
    meter.sync()
    raw = meter.load_profile.raw()
    cells = _encode_load_rows(meter, raw)
    return [(from_us(clock_us), row) for (clock_us, _, _), row in zip(raw, cells, strict=True)]


def _load_profile_between(
    meter: SimulatedMeter, start: datetime, end: datetime
) -> list[list[bytes]]:
    meter.sync()
    return _encode_load_rows(meter, meter.load_profile.raw_between(start, end))


def _load_profile_entries(meter: SimulatedMeter) -> int:
    meter.sync()
    return len(meter.load_profile)


# Encoded clock cells by µs since the epoch: a fleet's meters capture on the same quarter-hours,
# so most rows find their date-time already encoded. Emptied when full, to stay bounded.
_CLOCK_CELLS: dict[int, bytes] = {}
_CLOCK_CELLS_MAX = 50_000


def clock_cell(clock_us: int) -> bytes:
    """The A-XDR date-time cell of a capture clock (µs since the epoch), cached."""
    cell = _CLOCK_CELLS.get(clock_us)
    if cell is None:
        if len(_CLOCK_CELLS) >= _CLOCK_CELLS_MAX:
            _CLOCK_CELLS.clear()
        cell = _CLOCK_CELLS[clock_us] = v.datetime_octets_bytes(from_us(clock_us))
    return cell


def _encode_load_rows(meter: SimulatedMeter, raw: list[tuple[int, int, int]]) -> list[list[bytes]]:
    # the columns capture the registers, so they carry the registers' resolution
    import_scaler = meter.scalers.get(IMPORT_TOTAL, 0)
    export_scaler = meter.scalers.get(EXPORT_TOTAL, 0)
    dlu = v.double_long_unsigned_bytes
    return [
        [
            clock_cell(clock_us),
            dlu(raw_value(import_wh, import_scaler)),
            dlu(raw_value(export_wh, export_scaler)),
        ]
        for clock_us, import_wh, export_wh in raw
    ]


def raw_value(wh: int, scaler: int) -> int:
    """Whole Wh re-expressed at a register's resolution 10^scaler Wh."""
    if scaler == 0:
        return wh
    return int(Decimal(wh).scaleb(-scaler).to_integral_value(rounding=ROUND_HALF_EVEN))


def _event_rows(meter: SimulatedMeter) -> list[Row]:
    meter.sync()
    return [
        (
            event.clock,
            [v.datetime_octets_bytes(event.clock), v.unsigned(event.code & 0xFF).to_bytes()],
        )
        for event in meter.events
    ]


CLOCK_COLUMN = Column(CLOCK_CLASS, CLOCK)

LOAD_PROFILE_SPEC = ProfileSpec(
    columns=(
        CLOCK_COLUMN,
        Column(REGISTER_CLASS, IMPORT_TOTAL),
        Column(REGISTER_CLASS, EXPORT_TOTAL),
    ),
    capture_period=900,
    rows=_load_profile_rows,
    depth=lambda meter: meter.load_profile.maxlen or 0,
    rows_between=_load_profile_between,
    entries=_load_profile_entries,
)

EVENT_LOG_SPEC = ProfileSpec(
    columns=(CLOCK_COLUMN, Column(DATA_CLASS, EVENT_CODE)),
    capture_period=0,
    rows=_event_rows,
    depth=lambda meter: meter.events.maxlen or 0,
)


def capture_objects(spec: ProfileSpec) -> v.Data:
    return v.Encoded(_capture_objects_bytes(spec))


@cache
def _capture_objects_bytes(spec: ProfileSpec) -> bytes:
    # a profile's columns never change: every meter's every read gets the same bytes
    return v.array([column.descriptor() for column in spec.columns]).to_bytes()


def buffer(spec: ProfileSpec, meter: SimulatedMeter, selector: int | None, params: Any) -> v.Data:
    """The buffer, whole or as selected; AccessFailure for a selection it cannot serve."""
    everything = list(range(len(spec.columns)))
    if selector is None:
        rows, picked = [cells for _, cells in spec.rows(meter)], everything
    elif selector == RANGE_SELECTOR:
        rows, picked = _by_range(spec, meter, params)
    elif selector == ENTRY_SELECTOR:
        entries, picked = _by_entry(spec, spec.rows(meter), params)
        rows = [cells for _, cells in entries]
    else:
        spec.rows(meter)  # the meter catches up with its clock whatever it is asked
        raise AccessFailure(DataAccessResult.OTHER_REASON, f"access selector {selector}")
    head = b"\x02" + v.length(len(picked))
    if picked == everything:
        encoded = [head + b"".join(cells) for cells in rows]
    else:
        encoded = [head + b"".join([cells[i] for i in picked]) for cells in rows]
    return v.Encoded(b"\x01" + v.length(len(rows)) + b"".join(encoded))


def _fields(params: Any, count: int, what: str) -> list[Any]:
    try:
        fields = v.as_structure(params)
    except v.BadValue:
        fields = []
    if len(fields) != count:
        raise AccessFailure(
            DataAccessResult.TYPE_UNMATCHED, f"{what} is not a structure of {count}"
        )
    return fields


def _column(raw: Any) -> Column:
    fields = _fields(raw, 4, "a capture object")
    try:
        return Column(
            class_id=v.as_int(fields[0]),
            obis=".".join(str(b) for b in parse_obis(v.as_octets(fields[1]))),
            attribute=v.as_int(fields[2]),
            data_index=v.as_int(fields[3]),
        )
    except (v.BadValue, ValueError) as exc:
        raise AccessFailure(DataAccessResult.TYPE_UNMATCHED, str(exc)) from None


def _instant(raw: Any) -> datetime:
    try:
        # as_octets refuses a date-time value: a range takes the octet-string form
        return v.parse_datetime_octets(v.as_octets(raw))
    except v.BadValue as exc:
        raise AccessFailure(DataAccessResult.TYPE_UNMATCHED, str(exc)) from None


def _projection(spec: ProfileSpec, selected: Any) -> list[int]:
    try:
        items = v.as_array(selected)
    except v.BadValue:
        raise AccessFailure(
            DataAccessResult.TYPE_UNMATCHED, "selected_values is not an array"
        ) from None
    if not items:
        return list(range(len(spec.columns)))
    picked = []
    for raw in items:
        wanted = _column(raw)
        index = next((i for i, c in enumerate(spec.columns) if c.matches(wanted)), None)
        if index is None:
            raise AccessFailure(DataAccessResult.OBJECT_UNAVAILABLE, f"no column {wanted}")
        picked.append(index)
    return picked


def _by_range(
    spec: ProfileSpec, meter: SimulatedMeter, params: Any
) -> tuple[list[list[bytes]], list[int]]:
    fields = _fields(params, 4, "a range descriptor")
    restricting = _column(fields[0])
    if not restricting.matches(CLOCK_COLUMN):
        raise AccessFailure(
            DataAccessResult.OTHER_REASON, "range selection is only by the clock column"
        )
    start, end = _instant(fields[1]), _instant(fields[2])
    picked = _projection(spec, fields[3])
    if spec.rows_between is not None:
        return spec.rows_between(meter, start, end), picked
    return [cells for clock, cells in spec.rows(meter) if start <= clock <= end], picked


def _by_entry(spec: ProfileSpec, rows: list[Row], params: Any) -> tuple[list[Row], list[int]]:
    fields = _fields(params, 4, "an entry descriptor")
    try:
        from_entry, to_entry, from_value, to_value = (v.as_int(f) for f in fields)
    except v.BadValue as exc:
        raise AccessFailure(DataAccessResult.TYPE_UNMATCHED, str(exc)) from None
    to_entry = to_entry or len(rows)
    to_value = to_value or len(spec.columns)
    if from_entry < 1 or from_value < 1 or from_entry > to_entry or from_value > to_value:
        raise AccessFailure(DataAccessResult.OTHER_REASON, "entry descriptor out of range")
    picked = list(range(from_value - 1, min(to_value, len(spec.columns))))
    return rows[from_entry - 1 : to_entry], picked


def entries_in_use(spec: ProfileSpec, meter: SimulatedMeter) -> int:
    if spec.entries is not None:
        return spec.entries(meter)
    return len(spec.rows(meter))


def column_list(columns: Sequence[Column]) -> list[str]:
    return [c.obis for c in columns]
