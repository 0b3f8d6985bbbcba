"""Reading a Profile Generic (class 7) buffer between two instants into Readings.

The columns come from the profile's capture_objects (attribute 3), cached per (meter, profile)
like scalers (drivers.dlms.client.meter_cache: read again after `cache_max_age_s`). A buffer
whose rows do not fit the cached columns (another column count, a clock that is no date-time, a
text where a register value belongs) means the meter was re-parametrised: the capture objects
and the scalers of their registers are read again and the buffer decoded again, in the same
session.
The buffer is read with a RangeDescriptor on the clock column, so the meter sends only the rows
asked for, in data blocks when they do not fit one APDU.
A meter that does not grant selective access is asked for the whole buffer, and the rows are
filtered by their clock here (the same inclusive from/to as the range descriptor).
Each captured value becomes one Reading, its capture time the row's clock, scaled by the scaler
of the register it captures. A row with a null clock (compressed profiles) is one capture
period after the row before it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from dlms_cosem.cosem import CosemAttribute, Obis
from dlms_cosem.cosem.capture_object import CaptureObject
from dlms_cosem.cosem.selective_access import RangeDescriptor
from dlms_cosem.enumerations import CosemInterface

from drivers.contract import Point, Quality, Reading, trusted_reading
from drivers.dlms.client import axdr, objects
from drivers.dlms.client.cosem_values import (
    UNSCALED,
    ScalerUnit,
    as_datetime,
    cached_datetime,
    to_decimal,
)
from drivers.dlms.client.meter_cache import PerMeter
from drivers.dlms.client.reading import SCALERS, plain_value, scaler_unit
from drivers.errors import DriverError, MalformedFrame, Unsupported
from drivers.obis import format_obis, parse_obis

if TYPE_CHECKING:
    from drivers.dlms.client.session import DlmsSession


@dataclass(frozen=True, slots=True)
class Column:
    class_id: int
    obis: str
    attribute: int
    data_index: int

    @property
    def is_clock(self) -> bool:
        return self.class_id == objects.CLOCK and self.attribute == objects.VALUE_ATTRIBUTE


LOG = logging.getLogger(__name__)

COLUMNS: PerMeter[list[Column]] = PerMeter()
PERIODS: PerMeter[timedelta] = PerMeter()


class RowMismatch(MalformedFrame):
    """A buffer row that does not fit the capture objects it is decoded with."""


def parse_capture_objects(value: axdr.Value) -> list[Column]:
    """capture_objects: array of {class_id, logical_name, attribute_index, data_index}."""
    if not isinstance(value, list):
        raise MalformedFrame("capture_objects is not an array")
    columns = []
    for item in value:
        if (
            not isinstance(item, list)
            or len(item) != 4
            or not isinstance(item[0], int)
            or not isinstance(item[1], bytes)
            or len(item[1]) != 6
            or not isinstance(item[2], int)
            or not isinstance(item[3], int)
        ):
            raise MalformedFrame(f"capture object is not a valid definition: {item!r}")
        columns.append(Column(item[0], format_obis(tuple(item[1])), item[2], item[3]))
    return columns


async def capture_objects(session: DlmsSession, obis: str) -> list[Column]:
    """The profile's columns: cached while younger than `cache_max_age_s`, else a GET."""
    cached = COLUMNS.get(session.meter_id, obis, session.settings.cache_max_age_s)
    return cached if cached is not None else await _read_columns(session, obis)


async def _read_columns(session: DlmsSession, obis: str) -> list[Column]:
    value = await session.get(objects.PROFILE_GENERIC, obis, objects.PROFILE_CAPTURE_OBJECTS)
    columns = parse_capture_objects(value)
    COLUMNS.put(session.meter_id, obis, columns)
    return columns


async def capture_period(session: DlmsSession, obis: str) -> timedelta:
    cached = PERIODS.get(session.meter_id, obis, session.settings.cache_max_age_s)
    if cached is not None:
        return cached
    value = await session.get(objects.PROFILE_GENERIC, obis, 4)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise MalformedFrame(f"capture_period {value!r} is not a positive number of seconds")
    period = timedelta(seconds=value)
    PERIODS.put(session.meter_id, obis, period)
    return period


def range_descriptor(clock: Column, start: datetime, end: datetime) -> RangeDescriptor:
    restricting = CaptureObject(
        cosem_attribute=CosemAttribute(
            CosemInterface(clock.class_id), Obis(*parse_obis(clock.obis)), clock.attribute
        ),
        data_index=clock.data_index,
    )
    return RangeDescriptor(
        restricting_object=restricting, from_value=_aware(start), to_value=_aware(end)
    )


def _aware(when: datetime) -> datetime:
    # a naive instant is taken as UTC, the head-end's time base
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


async def read_profile(
    session: DlmsSession, profile: Point, start: datetime, end: datetime
) -> list[Reading]:
    obis = profile.obis
    try:
        return await _read_profile(session, obis, start, end)
    except DriverError as err:
        raise err.about(meter=session.meter_id, obis=obis) from None


async def _read_profile(
    session: DlmsSession, obis: str, start: datetime, end: datetime
) -> list[Reading]:
    cached = COLUMNS.get(session.meter_id, obis, session.settings.cache_max_age_s)
    columns = cached if cached is not None else await _read_columns(session, obis)
    try:
        return await _read_buffer(session, obis, columns, start, end)
    except RowMismatch as mismatch:
        if cached is None:
            raise  # read just now: the meter contradicts itself
        LOG.info(
            "meter %s: profile %s does not fit its cached capture objects (%s); reading them again",
            session.meter_id,
            obis,
            mismatch.cause,
        )
        for column in columns:
            SCALERS.discard(session.meter_id, column.obis)
        PERIODS.discard(session.meter_id, obis)
        columns = await _read_columns(session, obis)
        return await _read_buffer(session, obis, columns, start, end)


def _is_scaled(column: Column) -> bool:
    return column.class_id in objects.SCALED_CLASSES and column.attribute == 2


def _check_row(row: axdr.Value, columns: list[Column], clock_index: int) -> list[axdr.Value]:
    if not isinstance(row, list) or len(row) != len(columns):
        raise RowMismatch(f"profile row does not have {len(columns)} columns")
    when = row[clock_index]
    if when is not None and not (isinstance(when, bytes) and len(when) == 12):
        raise RowMismatch("profile row has no date-time in its clock column")
    for column, value in zip(columns, row, strict=True):
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if _is_scaled(column) and value is not None and not numeric:
            raise RowMismatch(f"profile column {column.obis} is not a number")
    return row


async def _read_buffer(
    session: DlmsSession, obis: str, columns: list[Column], start: datetime, end: datetime
) -> list[Reading]:
    clock_index = next((i for i, c in enumerate(columns) if c.is_clock), None)
    if clock_index is None:
        raise Unsupported("profile has no clock column to select a time range on")
    scales: list[ScalerUnit] = []
    for column in columns:
        if _is_scaled(column):
            scales.append(await scaler_unit(session, column.class_id, column.obis))
        else:
            scales.append(UNSCALED)
    # without selective access granted, the whole buffer is read and filtered here
    selective = session.grants("selective_access")
    access = range_descriptor(columns[clock_index], start, end) if selective else None
    raw = await session.get_raw(objects.PROFILE_GENERIC, obis, objects.PROFILE_BUFFER, access)
    low, high = _aware(start), _aware(end)
    received = datetime.now(UTC)
    rows = _fast_rows(raw, columns, clock_index)
    if rows is None:
        rows = _checked_rows(_decode(session, obis, raw), columns, clock_index)
    # per value column: (index, OBIS, scaler or None when unscaled, unit)
    plan = [
        (
            index,
            column.obis,
            scales[index].scaler if _is_scaled(column) else None,
            scales[index].unit,
        )
        for index, column in enumerate(columns)
        if index != clock_index
    ]
    meter_id = session.meter_id
    readings: list[Reading] = []
    previous: datetime | None = None
    for row in rows:
        quality = Quality.OK
        stamp = row[clock_index]
        if stamp is None:
            if previous is None:
                raise MalformedFrame("first profile row has no clock")
            when = previous + await capture_period(session, obis)
        else:
            assert isinstance(stamp, bytes)  # checked above
            when, status = cached_datetime(stamp)
            if status & 0x03:
                quality = Quality.SUSPECT
        previous = when
        if not selective and not low <= _aware(when) <= high:
            continue
        for index, point, scaler, unit in plan:
            value = row[index]
            if value is None:
                continue
            result: Decimal | str | datetime
            if scaler is None:
                result = _as_value(value)
            elif type(value) is int:
                # what to_decimal does for an int, without its checks (the row was checked)
                result = Decimal(value).scaleb(scaler)
            else:
                result = to_decimal(value, scaler)
            # the values are typed here and the OBIS code is canonical (from the capture
            # objects): validating ~200 readings per meter-day again costs a third of the read
            readings.append(trusted_reading(meter_id, point, result, unit, when, received, quality))
    return readings


def _decode(session: DlmsSession, obis: str, raw: bytes) -> axdr.Value:
    try:
        return axdr.decode(raw)
    except MalformedFrame as err:
        raise err.about(meter=session.meter_id, obis=objects.canonical_obis(obis)) from None


def _fast_rows(
    raw: bytes, columns: list[Column], clock_index: int
) -> list[list[axdr.Value]] | None:
    """The buffer's rows by `axdr.decode_table` when every row fits the columns as
    `_check_row` wants them; None otherwise (then decoded and checked the slow way, which
    raises the same errors as ever)."""
    rows = axdr.decode_table(raw, len(columns))
    if rows is None:
        return None
    scaled = [index for index, column in enumerate(columns) if _is_scaled(column)]
    for row in rows:
        when = row[clock_index]
        if when is not None and (type(when) is not bytes or len(when) != 12):
            return None
        for index in scaled:
            value = row[index]
            # bool is no number here: type() rather than isinstance
            if value is not None and type(value) is not int and type(value) is not float:
                return None
    return rows


def _checked_rows(
    buffer: axdr.Value, columns: list[Column], clock_index: int
) -> list[list[axdr.Value]]:
    if not isinstance(buffer, list):
        raise MalformedFrame("profile buffer is not an array")
    return [_check_row(row, columns, clock_index) for row in buffer]


def _as_value(value: axdr.Value) -> Decimal | str | datetime:
    if isinstance(value, bytes) and len(value) == 12:
        return as_datetime(value)[0]
    return plain_value(value)
