"""Failures against the simulator: wrong secrets, meters that close, go silent or talk garbage.

Each must end in the typed error naming the meter, within the request deadline, and without
spinning (a waiting client uses next to no CPU).
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from drivers.contract import PartialRead, Point
from drivers.dlms.client.session import open_dlms_session
from drivers.errors import AuthenticationFailed, ChannelDown, MalformedFrame, Timeout
from drivers.sim.dlms_sim import DlmsFaults
from drivers.sim.physics import CLOCK, IMPORT_TOTAL, VOLTAGE, SimulatedMeter

from .conftest import FRAMINGS, SECRETS, Rig
from .peers import Fault, fault_proxy

HANG_GUARD_S = 10.0


def add_faulty(rig: Rig, faults: DlmsFaults) -> str:
    rig.sim.add_meter(SimulatedMeter("bad", rig.clock, seed=2), SECRETS, faults=faults)
    return "bad"


class CpuWatch:
    """Process CPU against wall time over a block: a busy loop would use all of the wall."""

    def __enter__(self) -> CpuWatch:
        self.cpu, self.wall = time.process_time(), time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self.cpu
        self.wall = time.monotonic() - self.wall


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_wrong_password_is_refused(rig: Rig, framing: str):
    settings = await rig.settings(framing, "lls", password=b"00000000")
    with pytest.raises(AuthenticationFailed) as info:
        async with asyncio.timeout(HANG_GUARD_S):
            await rig.open(settings)
    assert info.value.meter == "m1"
    assert "00000000" not in str(info.value)


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("key", ["auth_key", "block_key"])
async def test_wrong_key_is_refused(rig: Rig, framing: str, key: str):
    wrong = b"\x5a" * 16
    settings = await rig.settings(framing, "hls", **{key: wrong})
    with pytest.raises(AuthenticationFailed) as info:
        async with asyncio.timeout(HANG_GUARD_S):
            await rig.open(settings)
    assert info.value.meter == "m1"
    assert wrong.hex() not in repr(settings) + str(info.value)


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("max_list", [1, 2])
async def test_meter_closing_mid_read_gives_the_readings_so_far(
    rig: Rig, framing: str, max_list: int
):
    # one GET each: AARQ, clock, energy value, then the scaler request finds the connection
    # closed; GET-with-list by two: AARQ, [clock, energy value], then [energy scaler, voltage]
    close_after = 3 if max_list == 1 else 2
    meter_id = add_faulty(rig, DlmsFaults(close_after=close_after, lists=True))
    settings = await rig.settings(framing, "none", meter_id=meter_id, max_list=max_list)
    points = [Point(obis=CLOCK), Point(obis=IMPORT_TOTAL), Point(obis=VOLTAGE[0])]
    async with asyncio.timeout(HANG_GUARD_S):
        session = await rig.open(settings, meter_id)
        with pytest.raises(PartialRead) as info:
            await session.read(points)
        await session.close()
    partial = info.value
    assert partial.fatal
    assert [r.obis for r in partial.readings] == [CLOCK]
    assert [f.obis for f in partial.failures] == [IMPORT_TOTAL, VOLTAGE[0]]
    # over TCP the close is seen at once; on a serial line a closed port is just silence
    expected = Timeout if framing == "hdlc-pty" else ChannelDown
    assert all(isinstance(f, expected) and f.meter == meter_id for f in partial.failures)


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_silent_meter_times_out_without_spinning(rig: Rig, framing: str):
    meter_id = add_faulty(rig, DlmsFaults(silent=True))
    settings = await rig.settings(framing, "none", meter_id=meter_id, timeout_s=0.5)
    with CpuWatch() as watch, pytest.raises(Timeout) as info:
        async with asyncio.timeout(HANG_GUARD_S):
            await rig.open(settings, meter_id)
    assert info.value.meter == meter_id
    assert watch.cpu < 0.5 * watch.wall


@pytest.mark.parametrize("framing", ["wrapper", "hdlc-tcp"])
async def test_garbage_is_malformed_or_timeout(rig: Rig, framing: str):
    meter_id = add_faulty(rig, DlmsFaults(garbage=True))
    settings = await rig.settings(framing, "none", meter_id=meter_id, timeout_s=0.5)
    with pytest.raises((MalformedFrame, Timeout)) as info:
        async with asyncio.timeout(HANG_GUARD_S):
            await rig.open(settings, meter_id)
    assert info.value.meter == meter_id


async def test_babbling_line_times_out_without_spinning(rig: Rig):
    settings = await rig.settings("hdlc-tcp", "none", timeout_s=0.5)
    assert settings.link.kind == "tcp"
    babble = Fault(at_reply=1, action="babble", payload=b"\x00" * 64)
    async with fault_proxy(settings.link.port, babble) as (port, _stats):
        link = settings.link.model_copy(update={"port": port})
        proxied = settings.model_copy(update={"link": link})
        async with asyncio.timeout(HANG_GUARD_S):
            with CpuWatch() as watch, pytest.raises((Timeout, MalformedFrame)):
                await rig.open(proxied)
    assert watch.cpu < 0.5 * watch.wall


async def test_a_broken_session_refuses_further_requests(rig: Rig):
    meter_id = add_faulty(rig, DlmsFaults(close_after=1))
    settings = await rig.settings("wrapper", "none", meter_id=meter_id)
    async with asyncio.timeout(HANG_GUARD_S):
        session = await open_dlms_session(settings, meter_id=meter_id, counters=rig.counters)
        with pytest.raises(PartialRead):
            await session.read([Point(obis=IMPORT_TOTAL)])
        with pytest.raises(ChannelDown):
            await session.get(3, IMPORT_TOTAL, 2)
        await session.close()
    rig.clock.advance(timedelta(minutes=1))
