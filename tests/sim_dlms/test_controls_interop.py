"""dlms-cosem's own client against the simulator's control objects: disconnect control state
and mode (class 70), the limiter's emergency profile (class 71), the activity calendar (class 20).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from dlms_cosem import cosem, dlms_data
from dlms_cosem import enumerations as enums
from dlms_cosem.client import DlmsClient
from dlms_cosem.time import datetime_to_bytes

from drivers.sim.dlms_sim import DlmsSimulator
from tests.sim_dlms import cosem_reads as r
from tests.sim_dlms.conftest import START, lls, wrapper_client

PUBLIC, READER = 16, 17
CALENDAR = r.obis("0.0.13.0.0.255")


def disconnect_control(attribute: int) -> cosem.CosemAttribute:
    return cosem.CosemAttribute(enums.CosemInterface.DISCONNECT_CONTROL, r.DISCONNECTOR, attribute)


def limiter(attribute: int) -> cosem.CosemAttribute:
    return cosem.CosemAttribute(enums.CosemInterface.LIMITER, r.LIMITER, attribute)


def calendar(attribute: int) -> cosem.CosemAttribute:
    return cosem.CosemAttribute(enums.CosemInterface.ACTIVITY_CALENDAR, CALENDAR, attribute)


def reader(port: int) -> DlmsClient:
    return wrapper_client(port, READER, auth=lls(b"12345678"))


async def test_reconnect_in_mode_1_arms_until_the_button_is_pressed(sim: DlmsSimulator) -> None:
    port = await sim.serve_wrapper("M1")
    meter = sim.meter("M1")

    def states(actions: tuple[int, ...]) -> tuple[Any, ...]:
        client = reader(port)
        with client.session():
            for method in actions:
                r.disconnector(client, method)
            return tuple(r.get_value(client, disconnect_control(a)) for a in (2, 3, 4))

    assert await asyncio.to_thread(states, ()) == (True, 1, 2)  # connected, default mode 2
    meter.set_control_mode(1)
    assert await asyncio.to_thread(states, (1,)) == (False, 0, 1)
    assert await asyncio.to_thread(states, (2,)) == (False, 2, 1)  # ready_for_reconnection
    meter.press_button()
    assert await asyncio.to_thread(states, ()) == (True, 1, 1)


async def test_control_mode_is_settable_within_0_to_6(sim: DlmsSimulator) -> None:
    port = await sim.serve_wrapper("M1")

    def run() -> tuple[Any, Any]:
        client = reader(port)
        with client.session():
            good = client.set(disconnect_control(4), dlms_data.EnumData(3).to_bytes())
            bad = client.set(disconnect_control(4), dlms_data.EnumData(9).to_bytes())
            return good.result, bad.result

    good, bad = await asyncio.to_thread(run)
    assert good == enums.DataAccessResult.SUCCESS and bad != enums.DataAccessResult.SUCCESS
    assert sim.meter("M1").control_mode == 3


async def test_emergency_profile_limits_until_its_duration_ends(sim: DlmsSimulator) -> None:
    port = await sim.serve_wrapper("M1")
    meter = sim.meter("M1")
    profile = dlms_data.DataStructure(
        [
            dlms_data.UnsignedLongData(1),
            dlms_data.OctetStringData(datetime_to_bytes(START)),
            dlms_data.DoubleLongUnsignedData(600),
        ]
    )

    def write() -> list[Any]:
        client = reader(port)
        with client.session():
            results = [
                client.set(limiter(4), dlms_data.DoubleLongUnsignedData(3000).to_bytes()),
                client.set(limiter(5), dlms_data.DoubleLongUnsignedData(500).to_bytes()),
                client.set(
                    limiter(9), dlms_data.DataArray([dlms_data.UnsignedLongData(1)]).to_bytes()
                ),
                client.set(limiter(8), profile.to_bytes()),
            ]
            return [x.result for x in results]

    def read() -> dict[int, Any]:
        client = wrapper_client(port, PUBLIC)
        with client.session():
            return {a: r.get_value(client, limiter(a)) for a in (3, 4, 5, 8, 9, 10)}

    assert set(await asyncio.to_thread(write)) == {enums.DataAccessResult.SUCCESS}
    got = await asyncio.to_thread(read)
    assert (got[3], got[4], got[5], got[9], got[10]) == (500, 3000, 500, [1], True)
    profile_id, activation, duration = got[8]
    assert (profile_id, duration) == (1, 600)
    assert int.from_bytes(activation[0:2], "big") == START.year and activation[5] == START.hour
    meter.clock.advance(timedelta(seconds=601))
    got = await asyncio.to_thread(read)
    assert (got[3], got[10]) == (3000, False)  # the lease ended: the normal threshold again


async def test_activity_calendar_switches_the_tariff_programme(sim: DlmsSimulator) -> None:
    port = await sim.serve_wrapper("M1")
    action = cosem.CosemMethod(enums.CosemInterface.ACTIVITY_CALENDAR, CALENDAR, 1)

    def run() -> tuple[Any, ...]:
        client = reader(port)
        with client.session():
            before = r.get_value(client, calendar(2))
            refused = client.set(calendar(6), dlms_data.OctetStringData(b"NOPE").to_bytes())
            client.set(calendar(6), dlms_data.OctetStringData(b"FLAT").to_bytes())
            passive = r.get_value(client, calendar(6))
            client.action(action, dlms_data.IntegerData(0).to_bytes())
            return before, refused.result, passive, r.get_value(client, calendar(2))

    before, refused, passive, after = await asyncio.to_thread(run)
    assert bytes(before) == b"TOU" and bytes(passive) == b"FLAT" and bytes(after) == b"FLAT"
    assert refused != enums.DataAccessResult.SUCCESS
    assert sim.meter("M1").tariff_programme == "FLAT"
