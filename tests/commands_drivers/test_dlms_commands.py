"""Our DLMS client's two-way commands against the simulated meter over TCP: an armed reconnect,
leased limits that the meter drops on its own, renewal, clearing, tariff switch."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from drivers.contract import Command, CommandKind, Point
from drivers.dlms.client.session import DlmsSession
from drivers.sim.control import CONNECTED, READY_FOR_RECONNECTION
from drivers.sim.physics import IMPORT_TARIFF, IMPORT_TOTAL
from tests.dlms_session.conftest import Rig

HANG_GUARD_S = 20


async def energy(session: DlmsSession, obis: str = IMPORT_TOTAL) -> Decimal:
    [reading] = await session.read([Point(obis=obis)])
    assert isinstance(reading.value, Decimal)
    return reading.value


def lease(limit_w: int, lease_s: int, rig: Rig) -> Command:
    return Command(
        kind=CommandKind.SET_LOAD_LIMIT,
        limit_w=Decimal(limit_w),
        lease_s=lease_s,
        time=rig.clock.now(),
    )


@pytest.mark.parametrize("framing", ["wrapper", "hdlc-tcp"])
async def test_armed_reconnect_then_the_customer_presses_the_button(rig: Rig, framing: str) -> None:
    rig.meter.set_control_mode(1)
    settings = await rig.settings(framing, "hls")
    async with asyncio.timeout(HANG_GUARD_S), await rig.open(settings) as session:
        off = await session.execute(Command(kind=CommandKind.DISCONNECT))
        armed = await session.execute(Command(kind=CommandKind.RECONNECT))
        assert rig.meter.control_state == READY_FOR_RECONNECTION
        before = await energy(session)
        rig.clock.advance(timedelta(minutes=30))
        assert await energy(session) == before  # armed: still no supply
        rig.meter.press_button()
        again = await session.execute(Command(kind=CommandKind.RECONNECT))
        rig.clock.advance(timedelta(minutes=30))
        after = await energy(session)
    assert off.ok and not off.armed and off.detail == "output disconnected"
    assert armed.ok and armed.armed and "awaiting the customer" in armed.detail
    assert again.ok and not again.armed and again.detail == "output connected"
    assert rig.meter.control_state == CONNECTED
    assert after - before in (499, 500, 501)


async def test_a_leased_limit_ends_on_the_meter_by_itself(rig: Rig) -> None:
    settings = await rig.settings("wrapper", "lls")
    async with asyncio.timeout(HANG_GUARD_S), await rig.open(settings) as session:
        before = await energy(session)
        result = await session.execute(lease(400, 600, rig))
        assert rig.meter.active_limit_w() == 400.0 and rig.meter.limit_w is None
        rig.clock.advance(timedelta(hours=1))
        after = await energy(session)
    assert result.ok and "leased for 600 s" in result.detail, result.detail
    assert rig.meter.active_limit_w() is None
    # 10 minutes at 400 W then 50 at 1 kW, counted in whole Wh
    assert after - before in (899, 900, 901)


async def test_a_renewed_lease_runs_from_its_new_activation(rig: Rig) -> None:
    settings = await rig.settings("wrapper", "hls")
    async with asyncio.timeout(HANG_GUARD_S), await rig.open(settings) as session:
        first = await session.execute(lease(400, 600, rig))
        rig.clock.advance(timedelta(seconds=500))
        renewed = await session.execute(lease(400, 600, rig))
        rig.clock.advance(timedelta(seconds=500))
        assert rig.meter.active_limit_w() == 400.0
        rig.clock.advance(timedelta(seconds=101))
        assert rig.meter.active_limit_w() is None
    assert first.ok and renewed.ok


async def test_a_meter_whose_clock_is_behind_applies_the_lease_at_once(rig: Rig) -> None:
    # the head-end's now is 2 minutes ahead of the meter's clock: the lease still starts now on
    # the meter and ends when asked (the window opens a little early, see CLOCK_TOLERANCE)
    rig.meter.clock_offset = -timedelta(minutes=2)
    settings = await rig.settings("wrapper", "lls")
    async with asyncio.timeout(HANG_GUARD_S), await rig.open(settings) as session:
        result = await session.execute(lease(400, 600, rig))
    assert result.ok, result.detail
    assert rig.meter.active_limit_w() == 400.0
    rig.clock.advance(timedelta(seconds=599 + 120))  # the meter's clock: 600 s after the start
    assert rig.meter.active_limit_w() == 400.0
    rig.clock.advance(timedelta(seconds=2))
    assert rig.meter.active_limit_w() is None


async def test_a_lease_without_a_time_starts_at_the_meter_clock(rig: Rig) -> None:
    # the simulated clock is months away from the wall clock: the lease must still start now
    settings = await rig.settings("wrapper", "lls")
    command = Command(kind=CommandKind.SET_LOAD_LIMIT, limit_w=Decimal(700), lease_s=60)
    async with asyncio.timeout(HANG_GUARD_S), await rig.open(settings) as session:
        result = await session.execute(command)
    assert result.ok, result.detail
    assert rig.meter.active_limit_w() == 700.0
    rig.clock.advance(timedelta(seconds=61))
    assert rig.meter.active_limit_w() is None


async def test_an_expired_lease_is_not_confirmed(rig: Rig) -> None:
    settings = await rig.settings("wrapper", "lls")
    stale = Command(
        kind=CommandKind.SET_LOAD_LIMIT,
        limit_w=Decimal(400),
        lease_s=60,
        time=rig.clock.now() - timedelta(minutes=5),
    )
    async with asyncio.timeout(HANG_GUARD_S), await rig.open(settings) as session:
        result = await session.execute(stale)
    assert not result.ok and "threshold_active reads back" in result.detail


async def test_normal_limit_and_clear_clears_both(rig: Rig) -> None:
    settings = await rig.settings("wrapper", "lls")
    async with asyncio.timeout(HANG_GUARD_S), await rig.open(settings) as session:
        normal = await session.execute(
            Command(kind=CommandKind.SET_LOAD_LIMIT, limit_w=Decimal(1500))
        )
        assert rig.meter.limit_w == 1500.0 and rig.meter.active_limit_w() == 1500.0
        leased = await session.execute(lease(300, 3600, rig))
        assert rig.meter.active_limit_w() == 300.0
        cleared = await session.execute(Command(kind=CommandKind.CLEAR_LOAD_LIMIT))
    assert normal.ok and leased.ok
    assert cleared.ok and cleared.detail == "limit cleared", cleared.detail
    assert not rig.meter.emergency_active()
    assert rig.meter.active_limit_w() == 0xFFFFFFFF  # class 71's largest threshold: no limit


async def test_set_tariff_switches_the_register_that_grows(rig: Rig) -> None:
    settings = await rig.settings("wrapper", "hls")
    night, day = IMPORT_TARIFF[0], IMPORT_TARIFF[1]
    async with asyncio.timeout(HANG_GUARD_S), await rig.open(settings) as session:
        unknown = await session.execute(Command(kind=CommandKind.SET_TARIFF, tariff="NOPE"))
        missing = await session.execute(Command(kind=CommandKind.SET_TARIFF))
        flat = await session.execute(Command(kind=CommandKind.SET_TARIFF, tariff="FLAT"))
        start = (await energy(session, night), await energy(session, day))
        rig.clock.advance(timedelta(hours=1))
        end = (await energy(session, night), await energy(session, day))
    assert not unknown.ok and not missing.ok
    assert flat.ok and flat.detail == "tariff programme FLAT active"
    assert rig.meter.tariff_programme == "FLAT"
    assert end[1] == start[1] and end[0] - start[0] in (999, 1000, 1001)
