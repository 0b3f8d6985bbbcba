"""Full sessions against the DLMS simulator, for every framing x security combination."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from drivers.contract import Command, CommandKind, Point
from drivers.dlms.client.session import DlmsSession
from drivers.sim.physics import CLOCK, EXPORT_TOTAL, IMPORT_TOTAL, LOAD_PROFILE, VOLTAGE

from .conftest import AUTHS, FRAMINGS, Rig

HANG_GUARD_S = 10.0
matrix = pytest.mark.parametrize(("framing", "auth"), [(f, a) for f in FRAMINGS for a in AUTHS])


@matrix
async def test_register_read_applies_scaler_and_meter_time(rig: Rig, framing: str, auth: str):
    settings = await rig.settings(framing, auth)
    points = [Point(obis=IMPORT_TOTAL), Point(obis=VOLTAGE[0]), Point(obis=CLOCK)]
    async with asyncio.timeout(HANG_GUARD_S):
        async with await rig.open(settings) as session:
            readings = {r.obis: r for r in await session.read(points)}
    now = rig.clock.now()  # frozen clock: the meter's time when it answered, in hundredths
    assert readings[CLOCK].value == now.replace(microsecond=now.microsecond // 10000 * 10000)
    energy = readings[IMPORT_TOTAL]
    assert energy.value == rig.meter.value(IMPORT_TOTAL)
    assert isinstance(energy.value, Decimal) and energy.unit == "Wh"
    assert energy.capture_time == readings[CLOCK].value
    voltage = readings[VOLTAGE[0]]
    assert voltage.unit == "V"
    assert voltage.value == rig.meter.value(VOLTAGE[0])


@matrix
async def test_profile_range_read_in_blocks(rig: Rig, framing: str, auth: str):
    # a small PDU forces the buffer into many GET data blocks
    settings = await rig.settings(framing, auth, max_pdu_size=64)
    end = rig.clock.now()
    start = end - timedelta(hours=6)
    async with asyncio.timeout(HANG_GUARD_S):
        async with await rig.open(settings) as session:
            readings = await session.read_profile(Point(obis=LOAD_PROFILE), start, end)
    rows = rig.meter.profile_rows(start, end)
    assert len(rows) >= 23
    expected = {(row.clock, IMPORT_TOTAL): row.import_wh for row in rows}
    expected |= {(row.clock, EXPORT_TOTAL): row.export_wh for row in rows}
    got = {(r.capture_time, r.obis): r.value for r in readings}
    assert got == expected
    assert {r.unit for r in readings} == {"Wh"}


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("auth", ["lls", "hls"])
async def test_set_limiter_and_disconnect_stop_energy(rig: Rig, framing: str, auth: str):
    settings = await rig.settings(framing, auth)
    # import and export: by day the simulated household's PV exports and imports nothing
    energy = [Point(obis=IMPORT_TOTAL), Point(obis=EXPORT_TOTAL)]

    async def flowed(session: DlmsSession) -> Decimal:
        values = [r.value for r in await session.read(energy)]
        assert all(isinstance(v, Decimal) for v in values)
        return sum((v for v in values if isinstance(v, Decimal)), Decimal(0))

    async with asyncio.timeout(HANG_GUARD_S):
        async with await rig.open(settings) as session:
            limited = await session.execute(
                Command(kind=CommandKind.SET_LOAD_LIMIT, limit_w=Decimal(1500))
            )
            assert limited.ok, limited.detail
            assert rig.meter.limit_w == 1500
            cleared = await session.execute(Command(kind=CommandKind.CLEAR_LOAD_LIMIT))
            assert cleared.ok, cleared.detail

            off = await session.execute(Command(kind=CommandKind.DISCONNECT))
            assert off.ok, off.detail
            before = await flowed(session)
            rig.clock.advance(timedelta(hours=2))
            assert await flowed(session) == before

            on = await session.execute(Command(kind=CommandKind.RECONNECT))
            assert on.ok, on.detail
            rig.clock.advance(timedelta(hours=2))
            after = await flowed(session)
    assert after > before


async def test_public_client_may_not_command(rig: Rig):
    settings = await rig.settings("wrapper", "none")
    async with await rig.open(settings) as session:
        result = await session.execute(Command(kind=CommandKind.DISCONNECT))
        # the session survives a refusal
        still = await session.read([Point(obis=IMPORT_TOTAL)])
    assert not result.ok and "refused" in result.detail
    assert rig.meter.connected and len(still) == 1


async def test_time_sync_sets_the_meter_clock(rig: Rig):
    settings = await rig.settings("wrapper", "hls")
    target = rig.clock.now() + timedelta(minutes=7)
    async with await rig.open(settings) as session:
        result = await session.execute(Command(kind=CommandKind.TIME_SYNC, time=target))
    assert result.ok, result.detail
    assert abs(rig.meter.now() - target) < timedelta(seconds=1)
