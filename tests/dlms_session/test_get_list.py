"""GET-with-list against the simulator: used when multiple-references is granted, in requests of
at most `max_list` attributes, in data blocks when the reply is long, one GET per attribute when
the meter does not grant it or refuses a list; an item error fails only its point.

The simulator counts the xDLMS requests each meter served, by kind (`DlmsSimulator.requests`).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from drivers.contract import PartialRead, Point, Reading
from drivers.dlms.client.reading import forget_scalers
from drivers.errors import ObjectUnavailable
from drivers.sim.dlms_sim import DlmsFaults
from drivers.sim.physics import (
    CLOCK,
    EXPORT_TOTAL,
    IMPORT_POWER,
    IMPORT_TARIFF,
    IMPORT_TOTAL,
    VOLTAGE,
    SimulatedMeter,
)

from .conftest import SECRETS, Rig

HANG_GUARD_S = 10.0
REGISTERS = [IMPORT_TOTAL, *IMPORT_TARIFF, EXPORT_TOTAL, IMPORT_POWER, *VOLTAGE]
POINTS = [Point(obis=CLOCK)] + [Point(obis=o) for o in REGISTERS]
# clock + 10 register values + 10 scaler/unit attributes on a cold cache
ATTRIBUTES = 1 + 2 * len(REGISTERS)
MISSING = "1.0.1.8.9.255"  # a register the meter does not have


def add_meter(rig: Rig, meter_id: str, **kw: object) -> str:
    rig.sim.add_meter(SimulatedMeter(meter_id, rig.clock, seed=1), SECRETS, **kw)  # type: ignore[arg-type]
    forget_scalers(meter_id)
    return meter_id


def listed(attributes: int, size: int) -> dict[str, int]:
    """Requests for `attributes` by `size`: full lists, and a single GET for a lone rest."""
    rest = attributes % size
    counts = {"get-list": attributes // size + (rest > 1), "get": int(rest == 1)}
    return {kind: n for kind, n in counts.items() if n}


def gets(rig: Rig, meter_id: str) -> dict[str, int]:
    """GET requests the meter served (HLS adds an ACTION, reply-to-HLS)."""
    return {k: n for k, n in rig.sim.requests(meter_id).items() if k.startswith("get")}


def by_obis(readings: list[Reading]) -> dict[str, Reading]:
    return {r.obis: r for r in readings}


def check_values(rig: Rig, meter_id: str, readings: dict[str, Reading]) -> None:
    meter = rig.sim.meter(meter_id)
    assert set(readings) == {CLOCK, *REGISTERS}
    for obis in REGISTERS:
        assert readings[obis].value == meter.value(obis), obis
        assert isinstance(readings[obis].value, Decimal)
        assert readings[obis].capture_time == readings[CLOCK].value
    assert readings[IMPORT_TOTAL].unit == "Wh" and readings[VOLTAGE[0]].unit == "V"


@pytest.mark.parametrize("framing", ["wrapper", "hdlc-tcp"])
@pytest.mark.parametrize("auth", ["none", "hls"])
async def test_list_used_when_granted(rig: Rig, framing: str, auth: str) -> None:
    meter_id = add_meter(rig, f"list-{framing}-{auth}")
    settings = await rig.settings(framing, auth, meter_id=meter_id, max_list=10)
    async with asyncio.timeout(HANG_GUARD_S):
        async with await rig.open(settings, meter_id) as session:
            assert session.uses_get_list
            cold = by_obis(await session.read(POINTS))
            after_cold = gets(rig, meter_id)
            warm = by_obis(await session.read(POINTS))
    check_values(rig, meter_id, cold)
    check_values(rig, meter_id, warm)
    # 21 attributes by 10 on a cold cache (10, 10 and a lone GET), then 11 (scalers cached)
    assert after_cold == listed(ATTRIBUTES, 10) == {"get-list": 2, "get": 1}
    assert gets(rig, meter_id) == {"get-list": 3, "get": 2}


async def test_max_list_bounds_each_request(rig: Rig) -> None:
    meter_id = add_meter(rig, "list-by-4")
    settings = await rig.settings("wrapper", "none", meter_id=meter_id, max_list=4)
    async with asyncio.timeout(HANG_GUARD_S):
        async with await rig.open(settings, meter_id) as session:
            readings = by_obis(await session.read(POINTS))
    check_values(rig, meter_id, readings)
    assert gets(rig, meter_id) == listed(ATTRIBUTES, 4) == {"get-list": 5, "get": 1}


@pytest.mark.parametrize("auth", ["none", "hls"])
async def test_list_reply_in_data_blocks(rig: Rig, auth: str) -> None:
    # a 64-byte client PDU: the reply to a list of 10 does not fit, the meter sends blocks
    meter_id = add_meter(rig, f"list-blocks-{auth}")
    settings = await rig.settings("wrapper", auth, meter_id=meter_id, max_list=10, max_pdu_size=64)
    async with asyncio.timeout(HANG_GUARD_S):
        async with await rig.open(settings, meter_id) as session:
            readings = by_obis(await session.read(POINTS))
    check_values(rig, meter_id, readings)
    requests = gets(rig, meter_id)
    assert requests["get-list"] == 2 and requests["get"] == 1
    assert requests["get-next"] > 0


async def test_one_get_per_attribute_when_not_granted(rig: Rig) -> None:
    meter_id = add_meter(rig, "no-list", withhold=["multiple_references"])
    settings = await rig.settings("wrapper", "none", meter_id=meter_id, max_list=10)
    async with asyncio.timeout(HANG_GUARD_S):
        async with await rig.open(settings, meter_id) as session:
            assert not session.uses_get_list
            readings = by_obis(await session.read(POINTS))
    check_values(rig, meter_id, readings)
    assert rig.sim.requests(meter_id) == {"get": ATTRIBUTES}


async def test_max_list_1_means_one_get_each(rig: Rig) -> None:
    meter_id = add_meter(rig, "list-off")
    settings = await rig.settings("wrapper", "none", meter_id=meter_id, max_list=1)
    async with asyncio.timeout(HANG_GUARD_S):
        async with await rig.open(settings, meter_id) as session:
            readings = by_obis(await session.read(POINTS))
    check_values(rig, meter_id, readings)
    assert rig.sim.requests(meter_id) == {"get": ATTRIBUTES}


async def test_refused_list_falls_back_to_one_get_each(rig: Rig) -> None:
    meter_id = add_meter(rig, "refuses-lists", faults=DlmsFaults(refuse_lists=True))
    settings = await rig.settings("wrapper", "none", meter_id=meter_id, max_list=10)
    async with asyncio.timeout(HANG_GUARD_S):
        async with await rig.open(settings, meter_id) as session:
            assert session.uses_get_list
            readings = by_obis(await session.read(POINTS))
            # the refusal is remembered for the session: no list is tried again
            assert not session.uses_get_list
            again = by_obis(await session.read(POINTS))
    check_values(rig, meter_id, readings)
    check_values(rig, meter_id, again)
    assert rig.sim.requests(meter_id) == {"get-list": 1, "get": ATTRIBUTES + len(POINTS)}


@pytest.mark.parametrize("auth", ["none", "hls"])
async def test_item_error_fails_only_its_point(rig: Rig, auth: str) -> None:
    meter_id = add_meter(rig, f"list-missing-{auth}")
    settings = await rig.settings("wrapper", auth, meter_id=meter_id, max_list=10)
    points = [Point(obis=IMPORT_TOTAL), Point(obis=MISSING), Point(obis=VOLTAGE[0])]
    async with asyncio.timeout(HANG_GUARD_S):
        async with await rig.open(settings, meter_id) as session:
            with pytest.raises(PartialRead) as caught:
                await session.read(points)
            # the session is still usable
            later = by_obis(await session.read([Point(obis=IMPORT_TOTAL)]))
    partial = caught.value
    assert not partial.fatal
    assert [(type(f), f.obis, f.meter) for f in partial.failures] == [
        (ObjectUnavailable, MISSING, meter_id)
    ]
    got = by_obis(partial.readings)
    meter = rig.sim.meter(meter_id)
    assert set(got) == {IMPORT_TOTAL, VOLTAGE[0]}
    assert got[IMPORT_TOTAL].value == meter.value(IMPORT_TOTAL)
    assert got[VOLTAGE[0]].value == meter.value(VOLTAGE[0]) and got[VOLTAGE[0]].unit == "V"
    assert later[IMPORT_TOTAL].value == meter.value(IMPORT_TOTAL)
    # values and scalers of the three points in one request (the missing scaler fails too),
    # then the lone value
    assert gets(rig, meter_id) == {"get-list": 1, "get": 1}
