"""Our client against a Gurux meter that withholds conformance bits: without selective access
the whole profile buffer is read and filtered on our side; without block transfer with GET a
reply that would need blocks is a typed error."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from gurux_dlms.enums import Conformance

from drivers.contract import Point
from drivers.dlms.client.counters import MemoryCounters
from drivers.dlms.client.reading import forget_scalers
from drivers.dlms.client.session import open_dlms_session
from drivers.errors import Unsupported

from .conftest import CLOCK, ENERGY, PROFILE, PROFILE_ROWS, T0, meter_config, our_settings
from .gurux_server import GuruxMeterConfig, GuruxTcpServer
from .test_get_list import GURUX_DEFAULT

HANG_GUARD_S = 10.0
Start = Callable[[GuruxMeterConfig], GuruxTcpServer]


@pytest.mark.parametrize("framing", ["wrapper", "hdlc"])
@pytest.mark.parametrize("auth", ["none", "hls"])
async def test_profile_without_selective_access(gurux: Start, framing: str, auth: str) -> None:
    config = meter_config(framing, auth, conformance=GURUX_DEFAULT & ~Conformance.SELECTIVE_ACCESS)
    server = gurux(config)
    settings = our_settings(server, framing, auth)
    start, end = T0 - timedelta(minutes=61), T0 - timedelta(minutes=14)
    async with asyncio.timeout(HANG_GUARD_S):
        async with await open_dlms_session(
            settings, meter_id=f"gx-nosel-{framing}-{auth}", counters=MemoryCounters()
        ) as session:
            assert not session.grants("selective_access")
            rows = await session.read_profile(Point(obis=PROFILE), start, end)
    expected = {
        T0 - timedelta(minutes=15 * (PROFILE_ROWS - i)): Decimal(120000 + 100 * i)
        for i in range(PROFILE_ROWS - 4, PROFILE_ROWS)
    }
    assert {r.capture_time: r.value for r in rows} == expected


@pytest.mark.parametrize("framing", ["wrapper", "hdlc"])
async def test_long_reply_without_block_transfer(gurux: Start, framing: str) -> None:
    conformance = GURUX_DEFAULT & ~Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
    config = meter_config(framing, "none", conformance=conformance)
    server = gurux(config)
    meter_id = f"gx-noblocks-{framing}"
    forget_scalers(meter_id)
    settings = our_settings(server, framing, "none", max_pdu_size=64)
    async with asyncio.timeout(HANG_GUARD_S):
        async with await open_dlms_session(
            settings, meter_id=meter_id, counters=MemoryCounters()
        ) as session:
            assert not session.grants("block_transfer_with_get_or_read")
            with pytest.raises(Unsupported) as caught:
                await session.read_profile(Point(obis=PROFILE), T0 - timedelta(hours=3), T0)
            assert session.broken is None
            readings = {
                r.obis: r for r in await session.read([Point(obis=ENERGY), Point(obis=CLOCK)])
            }
    assert "block-transfer-with-get" in caught.value.cause
    assert readings[ENERGY].value == Decimal(123456)
