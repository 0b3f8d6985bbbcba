"""Data types a Gurux server (or a real meter) sends that our simulator never does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from gurux_dlms import GXDateTime
from gurux_dlms.enums import ClockStatus, DataType, Unit
from gurux_dlms.objects import GXDLMSClock, GXDLMSData, GXDLMSExtendedRegister

from drivers.contract import Point
from drivers.dlms.client.counters import MemoryCounters
from drivers.dlms.client.session import open_dlms_session

from .conftest import CLOCK, meter_config, our_settings, register
from .gurux_server import GuruxMeterConfig, GuruxTcpServer

Start = Callable[[GuruxMeterConfig], GuruxTcpServer]
# scalers are cached per (meter id, OBIS) for the process: this meter has its own id
LOCAL = timezone(timedelta(hours=2))
WHEN = datetime(2025, 7, 1, 14, 30, 15, tzinfo=LOCAL)
TYPED = {
    # obis: (value, scaler, unit, type, expected)
    "1.0.1.8.0.255": (123456.5, 1, Unit.ACTIVE_ENERGY, DataType.FLOAT64, Decimal("123456.5")),
    "1.0.32.7.0.255": (230.1, 1, Unit.VOLTAGE, DataType.FLOAT32, Decimal("230.1")),
    "1.0.2.8.0.255": (2**40 + 7, 1, Unit.ACTIVE_ENERGY, DataType.UINT64, Decimal(2**40 + 7)),
    "1.0.3.8.0.255": (-(2**40), 1, Unit.REACTIVE_ENERGY, DataType.INT64, Decimal(-(2**40))),
    "1.0.1.7.0.255": (-1234, 0.1, Unit.ACTIVE_POWER, DataType.INT16, Decimal("-123.4")),
    "1.0.31.7.0.255": (-5, 0.01, Unit.CURRENT, DataType.INT8, Decimal("-0.05")),
    "1.0.14.7.0.255": (5000, 0.01, Unit.FREQUENCY, DataType.UINT16, Decimal("50.00")),
}
EXTENDED = "1.0.1.6.0.255"
STATUS = "0.0.96.5.0.255"
LONG_TEXT = "0.0.96.1.0.255"
LONG_VALUE = bytes(range(200))


def typed_objects() -> list[Any]:
    objects: list[Any] = [
        register(obis, value, scaler, unit, kind)
        for obis, (value, scaler, unit, kind, _) in TYPED.items()
    ]
    clock = GXDLMSClock(CLOCK)
    clock.time = GXDateTime(WHEN)
    clock.time.status = ClockStatus.DAYLIGHT_SAVE_ACTIVE
    objects.append(clock)
    extended = GXDLMSExtendedRegister(EXTENDED)
    extended.value = 4321
    extended.scaler = 1
    extended.unit = Unit.ACTIVE_POWER
    extended.setDataType(2, DataType.UINT32)
    extended.captureTime = GXDateTime(WHEN)
    objects.append(extended)
    status = GXDLMSData(STATUS)
    status.value = 3
    status.setDataType(2, DataType.ENUM)
    objects.append(status)
    text = GXDLMSData(LONG_TEXT)
    text.value = LONG_VALUE
    text.setDataType(2, DataType.OCTET_STRING)
    objects.append(text)
    return objects


async def test_numbers_clock_enum_extended_register_and_long_values(
    gurux: Start, counters: MemoryCounters
) -> None:
    server = gurux(meter_config("wrapper", "none", objects=typed_objects))
    settings = our_settings(server, "wrapper", "none")
    points = [Point(obis=obis) for obis in TYPED]
    points += [Point(obis=CLOCK), Point(obis=EXTENDED, class_id=4), Point(obis=STATUS)]
    points += [Point(obis=LONG_TEXT)]
    async with asyncio.timeout(10):
        async with await open_dlms_session(
            settings, meter_id="g-types", counters=counters
        ) as session:
            readings = {r.obis: r for r in await session.read(points)}
    for obis, (*_, expected) in TYPED.items():
        assert readings[obis].value == expected, obis
    assert readings["1.0.1.7.0.255"].unit == "W"
    # the meter's local time with its deviation, in UTC; the DST status bit is no doubt
    assert readings[CLOCK].value == WHEN.astimezone(UTC)
    assert readings[EXTENDED].value == Decimal(4321) and readings[EXTENDED].unit == "W"
    assert readings[STATUS].value == Decimal(3)
    assert readings[LONG_TEXT].value == LONG_VALUE.hex()
