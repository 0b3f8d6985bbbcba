"""A simulated fleet started with a push destination: its DLMS meters push power failures."""

from __future__ import annotations

from pathlib import Path

from drivers.dlms import events as codes
from drivers.sim.cosem.events import drain_pushes, push_destination
from headend.events.push import PushListener
from headend.simulation import simulated_fleet
from tests.channel.fleets import concentrator, fleet_config, gprs
from tests.events.test_push import Inbox


async def test_fleet_meters_push_to_the_configured_listener(tmp_path: Path) -> None:
    config = fleet_config(tmp_path, gprs("g1", "gp-1"), concentrator("dc", "h", 2))
    inbox = Inbox()
    async with PushListener(inbox) as listener:
        where = f"127.0.0.1:{listener.port}"
        async with simulated_fleet(config, push_destination=where) as (sim, _served):
            assert {push_destination(sim.meter(m)) for m in ("gp-1", "h-1", "h-2")} == {where}
            sim.meter("h-2").power_fail()
            sim.meter("gp-1").power_fail()
            got = await inbox.wait_for(2)
            await drain_pushes()
    assert sorted((e.meter_id, e.code) for e in got) == [
        ("gp-1", codes.POWER_DOWN),
        ("h-2", codes.POWER_DOWN),
    ]
