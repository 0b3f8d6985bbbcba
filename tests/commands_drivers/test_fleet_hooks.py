"""The simulated fleet's hooks for two-way control: a configured DLMS meter served as the feeder
meter of some households, and a meter's disconnect control mode, over real sockets."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from drivers.contract import Command, CommandKind, Point
from drivers.dlms.client.counters import MemoryCounters
from drivers.registry import open_meter_session
from drivers.sim.feeder import FeederMeter, net_wh
from headend.config.loader import HeadendConfig
from headend.config.settings import meter_settings
from headend.simulation import simulated_fleet
from tests.channel.fleets import concentrator, fleet_config, gprs

POWER_IN, POWER_OUT = "1.0.1.7.0.255", "1.0.2.7.0.255"
ENERGY_IN, ENERGY_OUT = "1.0.1.8.0.255", "1.0.2.8.0.255"


LLS_KEY = '\n[simulation.demo_keys.demo-lls]\npassword = "12345678"\n'


def lls_meters(channel: str, *ids: str) -> str:
    """HDLC meters behind one concentrator, authenticated with LLS (a public client may not
    command)."""
    text = f'\n[[channels]]\nid = "{channel}"\nhost = "127.0.0.1"\nport = 1\n'
    for i, meter_id in enumerate(ids, start=1):
        text += (
            f'\n[[meters]]\nid = "{meter_id}"\nprotocol = "dlms"\nchannel = "{channel}"\n'
            f'framing = "hdlc"\nserver_physical = {100 + i}\nauth = "low"\nkey = "demo-lls"\n'
        )
    return text


async def read(served: HeadendConfig, meter_id: str, obis: list[str]) -> dict[str, Decimal]:
    settings = meter_settings(served, meter_id)
    session = await open_meter_session(settings, meter_id=meter_id, counters=MemoryCounters())
    async with session:
        readings = await session.read([Point(obis=o) for o in obis])
    values = {r.obis: r.value for r in readings}
    assert all(isinstance(v, Decimal) for v in values.values())
    return values  # type: ignore[return-value]


async def test_a_feeder_meter_is_served_as_the_sum_of_its_households(tmp_path: Path) -> None:
    config = fleet_config(tmp_path, gprs("tx", "feeder-1"), concentrator("dc", "h", 4))
    households = [f"h-{i}" for i in range(1, 5)]
    async with simulated_fleet(config, feeders={"feeder-1": households}) as (sim, served):
        feeder = sim.meter("feeder-1")
        assert isinstance(feeder, FeederMeter)
        homes = [sim.meter(h) for h in households]
        start = await read(served, "feeder-1", [ENERGY_IN, ENERGY_OUT])
        start_net = sum(net_wh(h) for h in homes)
        sim.clock.advance(timedelta(minutes=50))
        got = await read(served, "feeder-1", [POWER_IN, POWER_OUT, ENERGY_IN, ENERGY_OUT])
        now = sim.clock.now()
        net_w = sum(imp - exp for imp, exp in (h.power_at(now) for h in homes))
        grown = sum(net_wh(h) for h in homes) - start_net
    assert got[POWER_IN] - got[POWER_OUT] == Decimal(round(net_w))
    flowed = (got[ENERGY_IN] - start[ENERGY_IN]) - (got[ENERGY_OUT] - start[ENERGY_OUT])
    assert flowed == grown != 0


async def test_control_modes_make_a_remote_reconnect_arm(tmp_path: Path) -> None:
    config = fleet_config(tmp_path, LLS_KEY, lls_meters("dc", "h-1", "h-2"))
    async with simulated_fleet(config, control_modes={"h-1": 1}) as (sim, served):
        settings = meter_settings(served, "h-1")
        session = await open_meter_session(settings, meter_id="h-1", counters=MemoryCounters())
        async with session:
            await session.execute(Command(kind=CommandKind.DISCONNECT))
            armed = await session.execute(Command(kind=CommandKind.RECONNECT))
            sim.meter("h-1").press_button()
            connected = await session.execute(Command(kind=CommandKind.RECONNECT))
        sim.set_control_mode("h-2", 3)
        assert sim.meter("h-2").control_mode == 3
    assert armed.ok and armed.armed
    assert connected.ok and not connected.armed


async def test_feeder_hooks_refuse_what_cannot_be(tmp_path: Path) -> None:
    config = fleet_config(tmp_path, gprs("tx", "feeder-1"), concentrator("dc", "h", 2))
    bad = [
        {"feeder-1": ["h-1", "nobody"]},
        {"feeder-1": ["feeder-1", "h-1"]},
        {"feeder-1": []},
    ]
    for feeders in bad:
        with pytest.raises(ValueError):
            async with simulated_fleet(config, feeders=feeders):
                pass
    async with simulated_fleet(config) as (sim, _served):
        with pytest.raises(ValueError, match="already built"):
            sim.attach_feeder("feeder-1", ["h-1"])
