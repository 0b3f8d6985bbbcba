"""GET-with-list against a real Gurux server: used when Gurux grants multiple-references (GET
requests counted by kind in the peer), in data blocks when the reply is long, one GET per
attribute when it is not granted, and a refused item fails only its point."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from gurux_dlms.enums import Conformance, DataType, Unit
from gurux_dlms.objects import GXDLMSData

from drivers.contract import PartialRead, Point, Reading
from drivers.dlms.client.counters import MemoryCounters
from drivers.dlms.client.reading import forget_scalers
from drivers.dlms.client.session import open_dlms_session
from drivers.errors import ObjectUnavailable

from .conftest import (
    CLOCK,
    ENERGY,
    T0,
    VOLTAGE,
    meter_config,
    our_settings,
    register,
    typical_objects,
)
from .gurux_server import GuruxMeterConfig, GuruxTcpServer

HANG_GUARD_S = 10.0
Start = Callable[[GuruxMeterConfig], GuruxTcpServer]
MISSING = "1.0.1.8.9.255"
# what a Gurux server offers by default (LN referencing)
GURUX_DEFAULT = (
    Conformance.GENERAL_PROTECTION
    | Conformance.BLOCK_TRANSFER_WITH_ACTION
    | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE
    | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
    | Conformance.SET
    | Conformance.SELECTIVE_ACCESS
    | Conformance.ACTION
    | Conformance.MULTIPLE_REFERENCES
    | Conformance.GET
)
TARIFFS = [f"1.0.1.8.{t}.255" for t in range(1, 9)]
NAMES = [f"0.0.96.1.{i}.255" for i in range(3)]  # Data objects: device ids, 30 characters


def name(i: int) -> str:
    return f"GRX-DEVICE-{i}-".ljust(30, "x")


def with_tariffs() -> list[Any]:
    """The typical meter plus eight tariff registers (Wh, scaler 0) and three device ids."""
    extra: list[Any] = [
        register(obis, 1000 * (i + 1), 1, Unit.ACTIVE_ENERGY, DataType.UINT32)
        for i, obis in enumerate(TARIFFS)
    ]
    for i, obis in enumerate(NAMES):
        data = GXDLMSData(obis)
        data.value = name(i)
        data.setDataType(2, DataType.STRING)
        extra.append(data)
    return typical_objects() + extra


async def read(
    server: GuruxTcpServer, framing: str, auth: str, points: list[Point], **kw: Any
) -> dict[str, Reading]:
    meter_id = f"gx-{framing}-{auth}"
    forget_scalers(meter_id)
    settings = our_settings(server, framing, auth, **kw)
    async with asyncio.timeout(HANG_GUARD_S):
        async with await open_dlms_session(
            settings, meter_id=meter_id, counters=MemoryCounters()
        ) as session:
            return {r.obis: r for r in await session.read(points)}


def check_typical(readings: dict[str, Reading]) -> None:
    assert readings[CLOCK].value == T0
    assert readings[ENERGY].value == Decimal(123456) and readings[ENERGY].unit == "Wh"
    assert readings[VOLTAGE].value == Decimal("230.1") and readings[VOLTAGE].unit == "V"
    assert readings[ENERGY].capture_time == T0


POINTS = [Point(obis=ENERGY), Point(obis=VOLTAGE), Point(obis=CLOCK)]
matrix = pytest.mark.parametrize(
    ("framing", "auth"), [(f, a) for f in ("wrapper", "hdlc") for a in ("none", "hls")]
)


@matrix
async def test_list_used_when_granted(gurux: Start, framing: str, auth: str) -> None:
    config = meter_config(framing, auth)
    readings = await read(gurux(config), framing, auth, POINTS)
    check_typical(readings)
    # three values and two scaler/units in one request
    assert config.requests == {"get-list": 1}


@pytest.mark.parametrize("framing", ["wrapper", "hdlc"])
async def test_one_get_each_when_not_granted(gurux: Start, framing: str) -> None:
    config = meter_config(
        framing, "none", conformance=GURUX_DEFAULT & ~Conformance.MULTIPLE_REFERENCES
    )
    readings = await read(gurux(config), framing, "none", POINTS)
    check_typical(readings)
    assert config.requests == {"get": 5}


@pytest.mark.parametrize("framing", ["wrapper", "hdlc"])
async def test_list_reply_in_data_blocks(gurux: Start, framing: str) -> None:
    config = meter_config(framing, "none", objects=with_tariffs)
    points = [Point(obis=o) for o in NAMES] + POINTS + [Point(obis=o) for o in TARIFFS]
    readings = await read(gurux(config), framing, "none", points, max_pdu_size=64, max_list=10)
    check_typical(readings)
    for i, obis in enumerate(TARIFFS):
        assert readings[obis].value == Decimal(1000 * (i + 1)) and readings[obis].unit == "Wh"
    assert [readings[o].value for o in NAMES] == [name(i) for i in range(3)]
    # 3 ids + 3 values + 2 scalers + 8 tariffs with their 8 scalers: 24 attributes. Gurux
    # answers the AARQ with our 64-byte PDU as its receive size too, so a request names at
    # most 6. The first reply does not fit 64 bytes: Gurux sends its first block (under its
    # own with-list framing, see drivers.dlms.client.list_replies), but its Python server cannot
    # send the next block of a list (it answers hardware-fault); the session then reads one GET each
    assert config.requests["get-list"] == 1 and config.requests["get-next"] == 1
    assert config.requests["get"] == 24, config.requests


@matrix
async def test_item_error_fails_only_its_point(gurux: Start, framing: str, auth: str) -> None:
    config = meter_config(framing, auth)
    server = gurux(config)
    points = [Point(obis=ENERGY), Point(obis=MISSING), Point(obis=VOLTAGE), Point(obis=CLOCK)]
    with pytest.raises(PartialRead) as caught:
        await read(server, framing, auth, points)
    partial = caught.value
    assert not partial.fatal
    assert [(type(f), f.obis) for f in partial.failures] == [(ObjectUnavailable, MISSING)]
    check_typical({r.obis: r for r in partial.readings})
    assert config.requests == {"get-list": 1}
