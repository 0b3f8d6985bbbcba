"""Modbus meters have no billing history: plans skip both billing profiles for them, and a meter
asked anyway over real TCP says Unsupported. DL/T 645 keeps both; DLMS meters are always asked."""

from __future__ import annotations

import pytest

from drivers.contract import Point
from drivers.dlt645.settings import Dlt645Settings
from drivers.errors import Unsupported
from drivers.modbus import load_map, open_session, parse_url
from drivers.sim.modbus import ModbusSimServer, SimModbusDevice
from drivers.sim.physics import SimulatedMeter
from drivers.transport.settings import TcpLink
from headend.config.fleet import ReadingPlan
from headend.reading.meter import applicable
from tests.billing_values.conftest import NOW, frozen_clock

BILLING_PROFILES = ("1.0.99.2.0.255", "0.0.98.1.0.255")


@pytest.mark.parametrize("profile", BILLING_PROFILES)
def test_plans_skip_billing_profiles_for_modbus_meters(profile: str) -> None:
    plan = ReadingPlan(name="billing", profile=profile)
    modbus = parse_url("modbus+tcp://127.0.0.1:1502?unit=1&model=sdm120")
    points, read_profile, skipped = applicable(plan, [], modbus)
    assert (points, read_profile, skipped) == ([], False, [profile])


@pytest.mark.parametrize("profile", BILLING_PROFILES)
def test_plans_keep_billing_profiles_for_dlt645_meters(profile: str) -> None:
    plan = ReadingPlan(name="billing", profile=profile)
    dlt645 = Dlt645Settings(link=TcpLink(host="127.0.0.1", port=4059), address="000000001234")
    assert applicable(plan, [], dlt645) == ([], True, [])


@pytest.mark.parametrize("profile", BILLING_PROFILES)
async def test_a_modbus_meter_has_no_billing_profile(profile: str, tcp_port: int) -> None:
    meter = SimulatedMeter("mb1", frozen_clock(), seed=4)
    device = SimModbusDevice(meter, load_map("sdm120"))
    async with ModbusSimServer({1: device}) as server:
        await server.serve_tcp("127.0.0.1", tcp_port)
        url = f"modbus+tcp://127.0.0.1:{tcp_port}?unit=1&model=sdm120"
        async with await open_session(parse_url(url), meter_id="mb1") as session:
            before = len(server.wire)
            with pytest.raises(Unsupported) as info:
                await session.read_profile(Point(obis=profile), NOW.replace(day=1), NOW)
            refused_on_the_wire = len(server.wire) - before
            (energy,) = await session.read([Point(obis="1.0.1.8.0.255")])  # still answers
    assert info.value.obis == profile
    assert refused_on_the_wire == 0  # the driver knows: no request was sent
    assert energy.value == meter.value("1.0.1.8.0.255")
