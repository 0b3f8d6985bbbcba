"""`read()` for DLMS: points -> Readings, with scaler/unit applied and the meter's clock as time.

Scaler and unit (attribute 3 of a register) are cached per (meter, OBIS) in `SCALERS`: they are
fixed by the meter's parametrisation, and reading them every time would double the traffic. An
entry older than the session's `cache_max_age_s` is read again, and so is the scaler of a
cumulative energy register whose value went down or jumped by about ten times since this process
last saw it (a re-parametrised or exchanged meter); when that scaler did change, every scaler of
the meter is dropped. `drivers.dlms.client.meter_cache.forget_meter` drops all of a meter's entries.

When the clock is among the points it is read first, and its value is the capture time of the
other values of the same call (the meter's own time, which the head-end stores them under),
unless the clock is suspect: its status byte says invalid, doubtful, a different clock base or an
invalid status, or it is further than `clock_drift_max_s` from the head-end's receive time. Then
the clock and the values are `clock-suspect` with no capture time, so the store keys them on the
receive time: a stuck clock would otherwise give every later read the key of an earlier one.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from drivers.contract import PartialRead, Point, Quality, Reading
from drivers.dlms.client import axdr, objects
from drivers.dlms.client.cosem_values import UNSCALED, ScalerUnit, as_datetime, to_decimal
from drivers.dlms.client.get_many import AttributeRef
from drivers.dlms.client.meter_cache import LastValues, PerMeter, forget_meter
from drivers.errors import DriverError, ObjectUnavailable, Unsupported
from drivers.obis import parse_obis

if TYPE_CHECKING:
    from drivers.dlms.client.session import DlmsSession

__all__ = ["SCALERS", "forget_meter", "forget_scalers", "read_points", "scaler_unit"]

LOG = logging.getLogger(__name__)

SCALERS: PerMeter[ScalerUnit] = PerMeter()
LAST_ENERGY = LastValues()

# IEC 62056-6-2 clock status: invalid value, doubtful value, different clock base, invalid
# clock status
CLOCK_SUSPECT_BITS = 0x01 | 0x02 | 0x04 | 0x08
# a scaler one step off multiplies by ten; 9 leaves room for rounding at the old resolution
ENERGY_JUMP = 9.0
# OBIS group C of cumulative energies (active, reactive, quadrants, apparent, per phase sums)
_ENERGY_C = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 15, 16})


def forget_scalers(meter_id: str) -> None:
    """Drop cached scalers of a meter and the energies last seen from it (after a
    reparametrisation or a meter exchange; `forget_meter` drops its capture objects too)."""
    SCALERS.forget(meter_id)
    LAST_ENERGY.forget(meter_id)


@functools.lru_cache(maxsize=4096)
def is_cumulative_energy(obis: str) -> bool:
    """Electricity energy since installation (D = 8): it never goes down on a working meter."""
    a, _b, c, d, _e, _f = parse_obis(obis)
    return a == 1 and d == 8 and c in _ENERGY_C


def class_of(point: Point) -> int:
    return point.class_id if point.class_id is not None else objects.default_class(point.obis)


def is_clock(point: Point) -> bool:
    return class_of(point) == objects.CLOCK and point.attribute == objects.VALUE_ATTRIBUTE


async def scaler_unit(session: DlmsSession, class_id: int, obis: str) -> ScalerUnit:
    """The register's scaler/unit: cached while younger than `cache_max_age_s`, else a GET."""
    cached = SCALERS.get(session.meter_id, obis, session.settings.cache_max_age_s)
    if cached is not None:
        return cached
    return await _read_scaler(session, class_id, obis)


async def _read_scaler(session: DlmsSession, class_id: int, obis: str) -> ScalerUnit:
    try:
        result = ScalerUnit.from_value(
            await session.get(class_id, obis, _scaler_attribute(class_id))
        )
    except DriverError as err:
        raise err.about(meter=session.meter_id, obis=obis) from None
    SCALERS.put(session.meter_id, obis, result)
    return result


async def checked_scale(
    session: DlmsSession,
    class_id: int,
    obis: str,
    value: axdr.Value,
    scale: ScalerUnit,
    *,
    fresh: bool,
) -> ScalerUnit:
    """`scale`, or the scaler read again when a cumulative energy scaled by a cached `scale`
    went down or jumped about tenfold since the last value seen; remembers the value."""
    if (
        class_id not in (objects.REGISTER, objects.EXTENDED_REGISTER)
        or not is_cumulative_energy(obis)
        or isinstance(value, bool)
        or not isinstance(value, int | float)
    ):
        return scale
    meter = session.meter_id
    scaled = float(to_decimal(value, scale.scaler))
    last = LAST_ENERGY.get(meter, obis)
    if not fresh and last is not None and _inconsistent(scaled, last):
        reread = await _read_scaler(session, class_id, obis)
        if reread != scale:
            LOG.info(
                "meter %s: %s scaler/unit changed from %s to %s; its scalers are read again",
                meter,
                obis,
                scale,
                reread,
            )
            # a re-parametrisation rarely changes one register: drop them all
            SCALERS.forget(meter)
            SCALERS.put(meter, obis, reread)
            scale = reread
            scaled = float(to_decimal(value, scale.scaler))
    LAST_ENERGY.put(meter, obis, scaled)
    return scale


def _inconsistent(value: float, last: float) -> bool:
    return value < last or (last > 0 and value >= last * ENERGY_JUMP)


def _reading(**fields: Any) -> Reading:
    """A Reading from values this module has already typed (str meter id, canonical OBIS,
    Decimal/datetime/str value, aware datetimes): `model_construct` skips pydantic's validation,
    about 5 % of the client's CPU per session. The same keywords as `Reading(...)`, so
    the set fields and the defaults are the same."""
    return Reading.model_construct(**fields)


def clock_suspect(
    session: DlmsSession, meter_time: datetime, status: int, received: datetime
) -> bool:
    """Whether a clock value is no usable capture time (see the module docstring)."""
    if status & CLOCK_SUSPECT_BITS:
        return True
    limit = session.settings.clock_drift_max_s
    return limit is not None and abs((meter_time - received).total_seconds()) > limit


def clock_reading(
    session: DlmsSession, obis: str, value: axdr.Value, receive_time: datetime
) -> Reading:
    when, status = as_datetime(value)
    suspect = clock_suspect(session, when, status, receive_time)
    return _reading(
        meter_id=session.meter_id,
        obis=obis,
        value=when,
        # a suspect clock is kept as read, keyed on the receive time like the values
        capture_time=None if suspect else when,
        receive_time=receive_time,
        quality=Quality.CLOCK_SUSPECT if suspect else Quality.OK,
    )


@dataclass(slots=True)
class _MeterTime:
    """The capture time the clock of this call gives the other values."""

    when: datetime | None = None
    suspect: bool = False

    def note(self, reading: Reading) -> None:
        if self.when is not None or self.suspect or not isinstance(reading.value, datetime):
            return
        if reading.quality is Quality.CLOCK_SUSPECT:
            self.suspect = True
        else:
            self.when = reading.value


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
    meter_time: _MeterTime,
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
        capture_time=meter_time.when,
        receive_time=received,
        quality=Quality.CLOCK_SUSPECT if meter_time.suspect else Quality.OK,
    )


async def read_point(session: DlmsSession, point: Point, meter_time: _MeterTime) -> Reading:
    class_id = class_of(point)
    obis = objects.canonical_obis(point.obis)
    _check_readable(class_id, point.attribute, obis)
    value = await session.get(class_id, obis, point.attribute)
    received = datetime.now(UTC)
    scale = UNSCALED
    if _is_scaled(class_id, point.attribute):
        cached = SCALERS.get(session.meter_id, obis, session.settings.cache_max_age_s)
        scale = cached or await _read_scaler(session, class_id, obis)
        scale = await checked_scale(session, class_id, obis, value, scale, fresh=cached is None)
    return _value_reading(
        session, class_id, obis, point.attribute, value, scale, meter_time, received
    )


def _rank(point: Point) -> int:
    """Processing order: the clock (it dates the rest), cumulative energies (a changed scaler
    shows there and drops the stale scalers before the other registers use them), the rest."""
    if is_clock(point):
        return 0
    return 1 if is_cumulative_energy(objects.canonical_obis(point.obis)) else 2


Indexed = Sequence[tuple[int, Point]]


async def read_points(session: DlmsSession, points: Sequence[Point]) -> list[Reading]:
    """The contract's `read()`: every reading that succeeded, or PartialRead carrying them.

    With GET-with-list (the meter granted multiple-references) the values and the scalers not
    cached yet go in as few requests as `max_list` allows; otherwise one GET per attribute.
    Readings and failures come back clock first, then in the order of `points`.
    """
    if session.uses_get_list and len(points) > 1:
        # requests in the caller's order (clock first); `_read_listed` decodes by `_rank`
        ordered = sorted(enumerate(points), key=lambda item: not is_clock(item[1]))
        readings, failures = await _read_listed(session, ordered)
    else:
        ordered = sorted(enumerate(points), key=lambda item: _rank(item[1]))
        readings, failures = await _read_one_by_one(session, ordered)
    clocks_first = {index: (_rank(point) != 0, index) for index, point in ordered}
    readings.sort(key=lambda item: clocks_first[item[0]])
    failures.sort(key=lambda item: clocks_first[item[0]])
    if failures:
        raise PartialRead(
            [r for _, r in readings],
            [f for _, f in failures],
            fatal=session.broken is not None,
            meter=session.meter_id,
        )
    return [r for _, r in readings]


Outcome = tuple[list[tuple[int, Reading]], list[tuple[int, DriverError]]]


async def _read_one_by_one(session: DlmsSession, ordered: Indexed) -> Outcome:
    readings: list[tuple[int, Reading]] = []
    failures: list[tuple[int, DriverError]] = []
    meter_time = _MeterTime()
    for position, (index, point) in enumerate(ordered):
        try:
            reading = await read_point(session, point, meter_time)
        except DriverError as err:
            failures.append((index, err.about(meter=session.meter_id, obis=point.obis)))
            if session.broken is not None:
                # the association is gone: the rest cannot be read in this session
                for rest_index, rest in ordered[position + 1 :]:
                    failures.append(
                        (
                            rest_index,
                            type(err)(
                                f"not read: {err.cause}", meter=session.meter_id, obis=rest.obis
                            ),
                        )
                    )
                break
            continue
        if is_clock(point):
            meter_time.note(reading)
        readings.append((index, reading))
    return readings, failures


@dataclass(frozen=True, slots=True)
class _Planned:
    rank: int
    index: int
    class_id: int
    obis: str
    attribute: int
    value_at: int
    scaler_at: int | None


async def _read_listed(session: DlmsSession, ordered: Indexed) -> Outcome:
    refs: list[AttributeRef] = []
    scaler_refs: dict[str, int] = {}
    plan: list[_Planned] = []
    failures: list[tuple[int, DriverError]] = []
    max_age = session.settings.cache_max_age_s
    for index, point in ordered:
        class_id = class_of(point)
        obis = objects.canonical_obis(point.obis)
        try:
            _check_readable(class_id, point.attribute, obis)
        except DriverError as err:
            failures.append((index, err.about(meter=session.meter_id)))
            continue
        value_at = len(refs)
        refs.append(AttributeRef(class_id, obis, point.attribute))
        scaler_at: int | None = None
        if (
            _is_scaled(class_id, point.attribute)
            and SCALERS.get(session.meter_id, obis, max_age) is None
        ):
            scaler_at = scaler_refs.get(obis)
            if scaler_at is None:
                scaler_at = scaler_refs[obis] = len(refs)
                refs.append(AttributeRef(class_id, obis, _scaler_attribute(class_id)))
        plan.append(
            _Planned(_rank(point), index, class_id, obis, point.attribute, value_at, scaler_at)
        )
    results = await session.get_attributes(refs)
    received = datetime.now(UTC)
    readings: list[tuple[int, Reading]] = []
    meter_time = _MeterTime()
    for item in sorted(plan, key=lambda planned: planned.rank):
        try:
            value = results[item.value_at]
            if isinstance(value, DriverError):
                raise value
            scale = UNSCALED
            if _is_scaled(item.class_id, item.attribute):
                scale = await _scaler_from(session, item, results)
                scale = await checked_scale(
                    session,
                    item.class_id,
                    item.obis,
                    value,
                    scale,
                    fresh=item.scaler_at is not None,
                )
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
            failures.append((item.index, err.about(meter=session.meter_id, obis=item.obis)))
            continue
        if item.class_id == objects.CLOCK and item.attribute == objects.VALUE_ATTRIBUTE:
            meter_time.note(reading)
        readings.append((item.index, reading))
    return readings, failures


async def _scaler_from(
    session: DlmsSession, item: _Planned, results: Sequence[axdr.Value | DriverError]
) -> ScalerUnit:
    if item.scaler_at is not None:
        raw = results[item.scaler_at]
        if isinstance(raw, DriverError):
            raise raw
        result = ScalerUnit.from_value(raw)
        SCALERS.put(session.meter_id, item.obis, result)
        return result
    # cached when planned (any age since); gone only if a changed scaler dropped the meter's
    # scalers earlier in this loop, and then it is read again here
    cached = SCALERS.get(session.meter_id, item.obis)
    return cached or await _read_scaler(session, item.class_id, item.obis)
