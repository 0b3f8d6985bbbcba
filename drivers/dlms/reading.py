"""`read()` for DLMS: points -> Readings, with scaler/unit applied and the meter's clock as time.

Scaler and unit (attribute 3 of a register) are read once per (meter, OBIS) and cached for the
life of the process: they are fixed by the meter's parametrisation, and reading them every time
would double the traffic. When the clock is among the points it is read first, and its value is
the capture time of the other values of the same call (the meter's own time, which the head-end
stores them under).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from drivers.contract import PartialRead, Point, Quality, Reading
from drivers.dlms import axdr, objects
from drivers.dlms.cosem_values import (
    CLOCK_STATUS_DOUBTFUL,
    CLOCK_STATUS_INVALID,
    UNSCALED,
    ScalerUnit,
    as_datetime,
    to_decimal,
)
from drivers.errors import DriverError, ObjectUnavailable, Unsupported

if TYPE_CHECKING:
    from drivers.dlms.session import DlmsSession

_SCALERS: dict[tuple[str, str], ScalerUnit] = {}


def forget_scalers(meter_id: str) -> None:
    """Drop cached scalers of a meter (after a reparametrisation or a meter exchange)."""
    for key in [k for k in _SCALERS if k[0] == meter_id]:
        del _SCALERS[key]


def class_of(point: Point) -> int:
    return point.class_id if point.class_id is not None else objects.default_class(point.obis)


def is_clock(point: Point) -> bool:
    return class_of(point) == objects.CLOCK and point.attribute == objects.VALUE_ATTRIBUTE


async def scaler_unit(session: DlmsSession, class_id: int, obis: str) -> ScalerUnit:
    key = (session.meter_id, obis)
    cached = _SCALERS.get(key)
    if cached is not None:
        return cached
    attribute = 4 if class_id == objects.DEMAND_REGISTER else objects.SCALER_UNIT_ATTRIBUTE
    try:
        result = ScalerUnit.from_value(await session.get(class_id, obis, attribute))
    except DriverError as err:
        raise err.about(meter=session.meter_id, obis=obis) from None
    _SCALERS[key] = result
    return result


def _reading(**fields: Any) -> Reading:
    """A Reading from values this module has already typed (str meter id, canonical OBIS,
    Decimal/datetime/str value, aware datetimes): `model_construct` skips pydantic's validation,
    about 5 % of the client's CPU per session. The same keywords as `Reading(...)`, so
    the set fields and the defaults are the same."""
    return Reading.model_construct(**fields)


def clock_reading(
    session: DlmsSession, obis: str, value: axdr.Value, receive_time: datetime
) -> Reading:
    when, status = as_datetime(value)
    doubtful = status & (CLOCK_STATUS_INVALID | CLOCK_STATUS_DOUBTFUL)
    return _reading(
        meter_id=session.meter_id,
        obis=obis,
        value=when,
        capture_time=when,
        receive_time=receive_time,
        quality=Quality.SUSPECT if doubtful else Quality.OK,
    )


def plain_value(value: axdr.Value) -> Decimal | str:
    """A value of a Data object (no scaler) as a Reading value."""
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, int | float):
        return to_decimal(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        if value and all(32 <= b < 127 for b in value):
            return value.decode("ascii")
        return value.hex()
    if value is None:
        raise ObjectUnavailable("meter returned null-data")
    return repr(value)


async def read_point(session: DlmsSession, point: Point, meter_time: datetime | None) -> Reading:
    class_id = class_of(point)
    obis = objects.canonical_obis(point.obis)
    if class_id == objects.PROFILE_GENERIC and point.attribute == objects.PROFILE_BUFFER:
        raise Unsupported("a profile buffer is read with read_profile", obis=obis)
    value = await session.get(class_id, obis, point.attribute)
    received = datetime.now(UTC)
    if class_id == objects.CLOCK and point.attribute == objects.VALUE_ATTRIBUTE:
        return clock_reading(session, obis, value, received)
    scale = UNSCALED
    if class_id in objects.SCALED_CLASSES and point.attribute == objects.VALUE_ATTRIBUTE:
        scale = await scaler_unit(session, class_id, obis)
        number = to_decimal(value, scale.scaler) if value is not None else plain_value(value)
        result: Decimal | str = number
    else:
        result = plain_value(value)
    return _reading(
        meter_id=session.meter_id,
        obis=obis,
        value=result,
        unit=scale.unit,
        capture_time=meter_time,
        receive_time=received,
    )


async def read_points(session: DlmsSession, points: Sequence[Point]) -> list[Reading]:
    """The contract's `read()`: every reading that succeeded, or PartialRead carrying them."""
    ordered = sorted(points, key=lambda p: 0 if is_clock(p) else 1)
    readings: list[Reading] = []
    failures: list[DriverError] = []
    meter_time: datetime | None = None
    for index, point in enumerate(ordered):
        try:
            reading = await read_point(session, point, meter_time)
        except DriverError as err:
            failures.append(err.about(meter=session.meter_id, obis=point.obis))
            if session.broken is not None:
                # the association is gone: the rest cannot be read in this session
                for rest in ordered[index + 1 :]:
                    failures.append(
                        type(err)(f"not read: {err.cause}", meter=session.meter_id, obis=rest.obis)
                    )
                break
            continue
        if is_clock(point) and isinstance(reading.value, datetime):
            meter_time = reading.value
        readings.append(reading)
    if failures:
        raise PartialRead(
            readings, failures, fatal=session.broken is not None, meter=session.meter_id
        )
    return readings
