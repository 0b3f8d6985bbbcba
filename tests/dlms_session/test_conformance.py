"""Conformance the meter withholds: selective access (the whole profile buffer is read and
filtered here) and block transfer with GET (a reply that would need blocks is `Unsupported`,
and the session stays usable)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from drivers.contract import Point
from drivers.dlms.client.reading import forget_scalers
from drivers.errors import Unsupported
from drivers.sim.physics import CLOCK, EXPORT_TOTAL, IMPORT_TOTAL, LOAD_PROFILE, SimulatedMeter

from .conftest import SECRETS, Rig

HANG_GUARD_S = 10.0


def add_meter(rig: Rig, meter_id: str, withhold: list[str]) -> str:
    rig.sim.add_meter(SimulatedMeter(meter_id, rig.clock, seed=1), SECRETS, withhold=withhold)
    forget_scalers(meter_id)
    return meter_id


@pytest.mark.parametrize("auth", ["none", "hls"])
async def test_profile_without_selective_access_is_filtered_here(rig: Rig, auth: str) -> None:
    meter_id = add_meter(rig, f"no-selective-{auth}", ["selective_access"])
    settings = await rig.settings("wrapper", auth, meter_id=meter_id)
    end = rig.clock.now() - timedelta(hours=1)
    start = end - timedelta(hours=3)
    async with asyncio.timeout(HANG_GUARD_S):
        async with await rig.open(settings, meter_id) as session:
            assert not session.grants("selective_access")
            readings = await session.read_profile(Point(obis=LOAD_PROFILE), start, end)
    meter = rig.sim.meter(meter_id)
    rows = meter.profile_rows(start, end)
    assert len(rows) >= 12 and len(meter.load_profile) > len(rows)
    expected = {(row.clock, IMPORT_TOTAL): row.import_wh for row in rows}
    expected |= {(row.clock, EXPORT_TOTAL): row.export_wh for row in rows}
    assert {(r.capture_time, r.obis): r.value for r in readings} == expected
    # the simulator refuses a selector it did not grant: the buffer was asked for without one
    assert rig.sim.requests(meter_id)["get"] >= 1


async def test_long_reply_without_block_transfer_is_unsupported(rig: Rig) -> None:
    meter_id = add_meter(rig, "no-blocks", ["block_transfer_with_get_or_read"])
    settings = await rig.settings("wrapper", "none", meter_id=meter_id, max_pdu_size=64)
    end = rig.clock.now()
    async with asyncio.timeout(HANG_GUARD_S):
        async with await rig.open(settings, meter_id) as session:
            with pytest.raises(Unsupported) as caught:
                await session.read_profile(Point(obis=LOAD_PROFILE), end - timedelta(hours=6), end)
            # the refusal is the meter's answer to one request: the session goes on
            assert session.broken is None
            clock = await session.read([Point(obis=CLOCK)])
    assert "block-transfer-with-get" in caught.value.cause
    assert caught.value.meter == meter_id and caught.value.obis == LOAD_PROFILE
    assert clock[0].obis == CLOCK
    assert rig.sim.requests(meter_id)["get-next"] == 0
