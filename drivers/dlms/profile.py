"""Reading a Profile Generic (class 7) buffer between two instants into Readings.

The columns come from the profile's capture_objects (attribute 3), read once per (meter, profile)
and cached for the process like scalers. The buffer is read with a RangeDescriptor on the clock
column, so the meter sends only the rows asked for, in data blocks when they do not fit one APDU.
A meter that does not grant selective access is asked for the whole buffer, and the rows are
filtered by their clock here (the same inclusive from/to as the range descriptor).
Each captured value becomes one Reading, its capture time the row's clock, scaled by the scaler
of the register it captures. A row with a null clock (compressed profiles) is one capture
period after the row before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from dlms_cosem.cosem import CosemAttribute, Obis
from dlms_cosem.cosem.capture_object import CaptureObject
from dlms_cosem.cosem.selective_access import RangeDescriptor
from dlms_cosem.enumerations import CosemInterface

from drivers.contract import Point, Quality, Reading
from drivers.dlms import axdr, objects
from drivers.dlms.cosem_values import UNSCALED, ScalerUnit, as_datetime, to_decimal
from drivers.dlms.reading import plain_value, scaler_unit
from drivers.errors import DriverError, MalformedFrame, Unsupported
from drivers.obis import format_obis, parse_obis

if TYPE_CHECKING:
    from drivers.dlms.session import DlmsSession


@dataclass(frozen=True, slots=True)
class Column:
    class_id: int
    obis: str
    attribute: int
    data_index: int

    @property
    def is_clock(self) -> bool:
        return self.class_id == objects.CLOCK and self.attribute == objects.VALUE_ATTRIBUTE


_COLUMNS: dict[tuple[str, str], list[Column]] = {}
_PERIODS: dict[tuple[str, str], timedelta] = {}


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
    key = (session.meter_id, obis)
    if key not in _COLUMNS:
        value = await session.get(objects.PROFILE_GENERIC, obis, objects.PROFILE_CAPTURE_OBJECTS)
        _COLUMNS[key] = parse_capture_objects(value)
    return _COLUMNS[key]


async def capture_period(session: DlmsSession, obis: str) -> timedelta:
    key = (session.meter_id, obis)
    if key not in _PERIODS:
        value = await session.get(objects.PROFILE_GENERIC, obis, 4)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise MalformedFrame(f"capture_period {value!r} is not a positive number of seconds")
        _PERIODS[key] = timedelta(seconds=value)
    return _PERIODS[key]


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
    columns = await capture_objects(session, obis)
    clock_index = next((i for i, c in enumerate(columns) if c.is_clock), None)
    if clock_index is None:
        raise Unsupported("profile has no clock column to select a time range on")
    scales: list[ScalerUnit] = []
    for column in columns:
        if column.class_id in objects.SCALED_CLASSES and column.attribute == 2:
            scales.append(await scaler_unit(session, column.class_id, column.obis))
        else:
            scales.append(UNSCALED)
    # without selective access granted, the whole buffer is read and filtered here
    selective = session.grants("selective_access")
    access = range_descriptor(columns[clock_index], start, end) if selective else None
    buffer = await session.get(objects.PROFILE_GENERIC, obis, objects.PROFILE_BUFFER, access)
    low, high = _aware(start), _aware(end)
    received = datetime.now(UTC)
    if not isinstance(buffer, list):
        raise MalformedFrame("profile buffer is not an array")
    readings: list[Reading] = []
    previous: datetime | None = None
    for row in buffer:
        if not isinstance(row, list) or len(row) != len(columns):
            raise MalformedFrame(f"profile row does not have {len(columns)} columns")
        quality = Quality.OK
        if row[clock_index] is None:
            if previous is None:
                raise MalformedFrame("first profile row has no clock")
            when = previous + await capture_period(session, obis)
        else:
            when, status = as_datetime(row[clock_index])
            if status & 0x03:
                quality = Quality.SUSPECT
        previous = when
        if not selective and not low <= _aware(when) <= high:
            continue
        for index, (column, value) in enumerate(zip(columns, row, strict=True)):
            if index == clock_index or value is None:
                continue
            scale = scales[index]
            result: Decimal | str | datetime
            if column.class_id in objects.SCALED_CLASSES and column.attribute == 2:
                result = to_decimal(value, scale.scaler)
            else:
                result = _as_value(value)
            readings.append(
                Reading(
                    meter_id=session.meter_id,
                    obis=column.obis,
                    value=result,
                    unit=scale.unit,
                    capture_time=when,
                    receive_time=received,
                    quality=quality,
                )
            )
    return readings


def _as_value(value: axdr.Value) -> Decimal | str | datetime:
    if isinstance(value, bytes) and len(value) == 12:
        return as_datetime(value)[0]
    return plain_value(value)
