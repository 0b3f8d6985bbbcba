"""Our DLMS client against a real Gurux server: wrapper and HDLC over TCP, none / LLS / HLS-GMAC."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from drivers.contract import Command, CommandKind, Point
from drivers.dlms.client.counters import MemoryCounters
from drivers.dlms.client.session import open_dlms_session
from drivers.errors import AuthenticationFailed

from .conftest import (
    CLOCK,
    ENERGY,
    LIMITER,
    PROFILE,
    PROFILE_ROWS,
    T0,
    VOLTAGE,
    meter_config,
    our_settings,
)
from .gurux_server import GuruxMeterConfig, GuruxTcpServer

HANG_GUARD_S = 10.0
Start = Callable[[GuruxMeterConfig], GuruxTcpServer]
matrix = pytest.mark.parametrize(
    ("framing", "auth"), [(f, a) for f in ("wrapper", "hdlc") for a in ("none", "lls", "hls")]
)


@matrix
async def test_registers_clock_profile(
    gurux: Start, counters: MemoryCounters, framing: str, auth: str
) -> None:
    server = gurux(meter_config(framing, auth))
    settings = our_settings(server, framing, auth)
    async with asyncio.timeout(HANG_GUARD_S):
        async with await open_dlms_session(settings, meter_id="g1", counters=counters) as session:
            points = [Point(obis=ENERGY), Point(obis=VOLTAGE), Point(obis=CLOCK)]
            readings = {r.obis: r for r in await session.read(points)}
            start, end = T0 - timedelta(minutes=61), T0 - timedelta(minutes=14)
            rows = await session.read_profile(Point(obis=PROFILE), start, end)
    assert readings[CLOCK].value == T0
    assert readings[ENERGY].value == Decimal(123456) and readings[ENERGY].unit == "Wh"
    assert readings[ENERGY].capture_time == T0
    assert readings[VOLTAGE].value == Decimal("230.1") and readings[VOLTAGE].unit == "V"
    # rows at T0-60 .. T0-15 min: the last four of the buffer
    expected = {
        T0 - timedelta(minutes=15 * (PROFILE_ROWS - i)): Decimal(120000 + 100 * i)
        for i in range(PROFILE_ROWS - 4, PROFILE_ROWS)
    }
    assert {r.capture_time: r.value for r in rows} == expected
    assert {(r.obis, r.unit) for r in rows} == {(ENERGY, "Wh")}


@matrix
async def test_disconnect_reconnect_and_limiter(
    gurux: Start, counters: MemoryCounters, framing: str, auth: str
) -> None:
    config = meter_config(framing, auth)
    server = gurux(config)
    settings = our_settings(server, framing, auth)
    async with asyncio.timeout(HANG_GUARD_S):
        async with await open_dlms_session(settings, meter_id="g1", counters=counters) as session:
            off = await session.execute(Command(kind=CommandKind.DISCONNECT))
            on = await session.execute(Command(kind=CommandKind.RECONNECT))
            limit = await session.execute(
                Command(kind=CommandKind.SET_LOAD_LIMIT, limit_w=Decimal(1500))
            )
    assert off.ok and off.detail == "output disconnected", off.detail
    assert on.ok and on.detail == "output connected", on.detail
    # Gurux's limiter stores threshold_normal and leaves threshold_active null (it does not run
    # a limiter): the command is confirmed on what the meter keeps
    assert limit.ok, limit.detail
    assert f"write {LIMITER}:4" in config.log
    assert config.log.count("action 0.0.96.3.10.255:1") == 1
    assert config.log.count("action 0.0.96.3.10.255:2") == 1


@pytest.mark.parametrize("framing", ["wrapper", "hdlc"])
async def test_wrong_password_is_authentication_failed(
    gurux: Start, counters: MemoryCounters, framing: str
) -> None:
    server = gurux(meter_config(framing, "lls"))
    settings = our_settings(server, framing, "lls", password=b"wrong!!!")
    async with asyncio.timeout(HANG_GUARD_S):
        with pytest.raises(AuthenticationFailed) as caught:
            await open_dlms_session(settings, meter_id="g1", counters=counters)
    assert caught.value.meter == "g1"


@pytest.mark.parametrize("framing", ["wrapper", "hdlc"])
async def test_wrong_hls_key_is_authentication_failed(
    gurux: Start, counters: MemoryCounters, framing: str
) -> None:
    server = gurux(meter_config(framing, "hls"))
    settings = our_settings(server, framing, "hls", auth_key=bytes(16))
    async with asyncio.timeout(HANG_GUARD_S):
        with pytest.raises(AuthenticationFailed):
            await open_dlms_session(settings, meter_id="g1", counters=counters)
