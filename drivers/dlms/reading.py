"""`read()` for DLMS: points -> Readings, with scaler/unit applied and the meter's clock as time.

Scaler and unit (attribute 3 of a register) are read once per (meter, OBIS) and cached for the
life of the process: they are fixed by the meter's parametrisation, and reading them every time
would double the traffic. When the clock is among the points it is read first, and its value is
the capture time of the other values of the same call (the meter's own time, which the head-end
stores them under).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
from drivers.dlms.get_many import AttributeRef
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
    attribute = _scaler_attribute(class_id)
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


def _scaler_attribute(class_id: int) -> int:
    return 4 if class_id == objects.DEMAND_REGISTER else objects.SCALER_UNIT_ATTRIBUTE


def _is_scaled(class_id: int, attribute: int) -> bool:
    return class_id in objects.SCALED_CLASSES and attribute == objects.VALUE_ATTRIBUTE


def _check_readable(class_id: int, attribute: int, obis: str) -> None:
    if class_id == objects.PROFILE_GENERIC and attribute == objects.PROFILE_BUFFER:
        raise Unsupported("a profile buffer is read with read_profile", obis=obis)


def _value_reading(
    session: DlmsSession,
    class_id: int,
    obis: str,
    attribute: int,
    value: axdr.Value,
    scale: ScalerUnit,
    meter_time: datetime | None,
    received: datetime,
) -> Reading:
    if class_id == objects.CLOCK and attribute == objects.VALUE_ATTRIBUTE:
        return clock_reading(session, obis, value, received)
    result: Decimal | str
    if _is_scaled(class_id, attribute) and value is not None:
        result = to_decimal(value, scale.scaler)
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


async def read_point(session: DlmsSession, point: Point, meter_time: datetime | None) -> Reading:
    class_id = class_of(point)
    obis = objects.canonical_obis(point.obis)
    _check_readable(class_id, point.attribute, obis)
    value = await session.get(class_id, obis, point.attribute)
    received = datetime.now(UTC)
    scale = UNSCALED
    if _is_scaled(class_id, point.attribute):
        scale = await scaler_unit(session, class_id, obis)
    return _value_reading(
        session, class_id, obis, point.attribute, value, scale, meter_time, received
    )


async def read_points(session: DlmsSession, points: Sequence[Point]) -> list[Reading]:
    """The contract's `read()`: every reading that succeeded, or PartialRead carrying them.

    With GET-with-list (the meter granted multiple-references) the values and the scalers not
    cached yet go in as few requests as `max_list` allows; otherwise one GET per attribute.
    """
    ordered = sorted(points, key=lambda p: 0 if is_clock(p) else 1)
    if session.uses_get_list and len(ordered) > 1:
        readings, failures = await _read_listed(session, ordered)
    else:
        readings, failures = await _read_one_by_one(session, ordered)
    if failures:
        raise PartialRead(
            readings, failures, fatal=session.broken is not None, meter=session.meter_id
        )
    return readings


async def _read_one_by_one(
    session: DlmsSession, ordered: Sequence[Point]
) -> tuple[list[Reading], list[DriverError]]:
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
    return readings, failures


@dataclass(frozen=True, slots=True)
class _Planned:
    class_id: int
    obis: str
    attribute: int
    value_at: int
    scaler_at: int | None


async def _read_listed(
    session: DlmsSession, ordered: Sequence[Point]
) -> tuple[list[Reading], list[DriverError]]:
    refs: list[AttributeRef] = []
    scaler_refs: dict[str, int] = {}
    plan: list[_Planned] = []
    failures: list[DriverError] = []
    for point in ordered:
        class_id = class_of(point)
        obis = objects.canonical_obis(point.obis)
        try:
            _check_readable(class_id, point.attribute, obis)
        except DriverError as err:
            failures.append(err.about(meter=session.meter_id))
            continue
        value_at = len(refs)
        refs.append(AttributeRef(class_id, obis, point.attribute))
        scaler_at: int | None = None
        if _is_scaled(class_id, point.attribute) and (session.meter_id, obis) not in _SCALERS:
            scaler_at = scaler_refs.get(obis)
            if scaler_at is None:
                scaler_at = scaler_refs[obis] = len(refs)
                refs.append(AttributeRef(class_id, obis, _scaler_attribute(class_id)))
        plan.append(_Planned(class_id, obis, point.attribute, value_at, scaler_at))
    results = await session.get_attributes(refs)
    received = datetime.now(UTC)
    readings: list[Reading] = []
    meter_time: datetime | None = None
    for item in plan:
        try:
            value = results[item.value_at]
            if isinstance(value, DriverError):
                raise value
            scale = UNSCALED
            if _is_scaled(item.class_id, item.attribute):
                scale = _scaler_from(session, item, results)
            reading = _value_reading(
                session,
                item.class_id,
                item.obis,
                item.attribute,
                value,
                scale,
                meter_time,
                received,
            )
        except DriverError as err:
            failures.append(err.about(meter=session.meter_id, obis=item.obis))
            continue
        if item.class_id == objects.CLOCK and isinstance(reading.value, datetime):
            meter_time = meter_time or reading.value
        readings.append(reading)
    return readings, failures


def _scaler_from(
    session: DlmsSession, item: _Planned, results: Sequence[axdr.Value | DriverError]
) -> ScalerUnit:
    key = (session.meter_id, item.obis)
    cached = _SCALERS.get(key)
    if cached is not None:
        return cached
    if item.scaler_at is None:  # pragma: no cover - planned whenever it was not cached
        raise Unsupported("scaler was not read", obis=item.obis)
    raw = results[item.scaler_at]
    if isinstance(raw, DriverError):
        raise raw
    result = ScalerUnit.from_value(raw)
    _SCALERS[key] = result
    return result
