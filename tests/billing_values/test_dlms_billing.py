"""DLMS: the daily values 1.0.99.2.0.255 and billing period values 0.0.98.1.0.255 of the simulated
meter, read by our driver over the wrapper on a real TCP socket, and by dlms-cosem's client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from dlms_cosem import cosem, utils
from dlms_cosem import enumerations as enums
from dlms_cosem.client import DlmsClient
from dlms_cosem.cosem.capture_object import CaptureObject
from dlms_cosem.cosem.selective_access import RangeDescriptor
from dlms_cosem.io import BlockingTcpIO, TcpTransport
from dlms_cosem.security import NoSecurityAuthentication

from drivers.contract import Point
from drivers.dlms.client.counters import MemoryCounters
from drivers.dlms.client.session import DlmsSession, open_dlms_session
from drivers.dlms.settings import DlmsAuth, DlmsFraming, DlmsSettings
from drivers.sim.cosem.objects import set_register_scaler
from drivers.sim.dlms_sim import DlmsSimulator
from drivers.sim.physics import IMPORT_TARIFF, IMPORT_TOTAL, SimulatedMeter
from drivers.transport.settings import TcpLink
from tests.billing_values.conftest import (
    COLUMNS,
    HISTORY,
    NOW,
    SEED,
    assert_non_decreasing,
    by_capture,
    frozen_clock,
    registers_at,
    utc_midnight,
)

DAILY = "1.0.99.2.0.255"
MONTHLY = "0.0.98.1.0.255"
PUBLIC_CLIENT = 16


@pytest.fixture
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[SimulatedMeter, int]]:
    # a meter id per test: the driver caches scalers and columns per meter id for the process
    meter_id = request.node.name
    clock = frozen_clock()
    async with DlmsSimulator(clock) as sim:
        meter = SimulatedMeter(meter_id, clock, seed=SEED, history=HISTORY)
        sim.add_meter(meter)
        yield meter, await sim.serve_wrapper(meter_id)


def settings(port: int) -> DlmsSettings:
    return DlmsSettings(
        framing=DlmsFraming.WRAPPER,
        link=TcpLink(host="127.0.0.1", port=port),
        auth=DlmsAuth.NONE,
        timeout_s=5.0,
        connect_timeout_s=5.0,
    )


async def session(meter: SimulatedMeter, port: int) -> DlmsSession:
    return await open_dlms_session(
        settings(port), meter_id=meter.meter_id, counters=MemoryCounters()
    )


async def test_daily_values_of_the_last_three_days(served: tuple[SimulatedMeter, int]) -> None:
    meter, port = served
    async with await session(meter, port) as s:
        readings = await s.read_profile(Point(obis=DAILY), utc_midnight(2), NOW)
    rows = by_capture(readings)
    assert sorted(rows) == [utc_midnight(2), utc_midnight(1), utc_midnight(0)]
    for when, values in rows.items():
        assert set(values) == set(COLUMNS)
        assert values == {obis: Decimal(wh) for obis, wh in registers_at(when).items()}
        assert values["1.0.1.8.0.255"] == sum(values[o] for o in IMPORT_TARIFF)
    assert_non_decreasing(rows)
    assert rows[utc_midnight(0)]["1.0.1.8.0.255"] > rows[utc_midnight(2)]["1.0.1.8.0.255"]


async def test_daily_values_reach_back_62_days_and_no_further(
    served: tuple[SimulatedMeter, int],
) -> None:
    meter, port = served
    async with await session(meter, port) as s:
        readings = await s.read_profile(Point(obis=DAILY), NOW - timedelta(days=69), NOW)
    # the meter keeps 62 days although it lived through 69 midnights
    assert sorted(by_capture(readings)) == [utc_midnight(n) for n in range(61, -1, -1)]


async def test_billing_period_values_over_two_months(served: tuple[SimulatedMeter, int]) -> None:
    meter, port = served
    async with await session(meter, port) as s:
        readings = await s.read_profile(Point(obis=MONTHLY), datetime(2025, 1, 2, tzinfo=UTC), NOW)
        everything = await s.read_profile(Point(obis=MONTHLY), NOW - timedelta(days=365), NOW)
    rows = by_capture(readings)
    firsts = [datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)]
    assert sorted(rows) == firsts
    for when in firsts:
        assert rows[when] == {obis: Decimal(wh) for obis, wh in registers_at(when).items()}
    assert_non_decreasing(rows)
    # the meter's life began on 2024-12-23: three period ends, 1 January the first
    assert sorted(by_capture(everything)) == [datetime(2025, 1, 1, tzinfo=UTC), *firsts]


async def test_a_window_without_a_capture_gives_no_rows(
    served: tuple[SimulatedMeter, int],
) -> None:
    meter, port = served
    async with await session(meter, port) as s:
        between_midnights = await s.read_profile(
            Point(obis=DAILY),
            utc_midnight(1) + timedelta(minutes=1),
            utc_midnight(0) - timedelta(minutes=1),
        )
        before_life = await s.read_profile(
            Point(obis=MONTHLY), NOW - timedelta(days=400), NOW - timedelta(days=100)
        )
    assert between_midnights == []
    assert before_life == []


async def test_a_rescaled_register_is_read_with_its_scaler(
    served: tuple[SimulatedMeter, int],
) -> None:
    meter, port = served
    set_register_scaler(meter, IMPORT_TOTAL, 1)  # the total now counts in 10 Wh
    async with await session(meter, port) as s:
        readings = await s.read_profile(Point(obis=DAILY), utc_midnight(0), utc_midnight(0))
    (values,) = by_capture(readings).values()
    expected = registers_at(utc_midnight(0))
    total = Decimal(expected["1.0.1.8.0.255"])
    assert values["1.0.1.8.0.255"] == (total / 10).quantize(Decimal(1)) * 10
    assert values["1.0.1.8.1.255"] == expected["1.0.1.8.1.255"]  # other columns unchanged


def _client(port: int) -> DlmsClient:
    transport = TcpTransport(
        client_logical_address=PUBLIC_CLIENT,
        server_logical_address=1,
        io=BlockingTcpIO("127.0.0.1", port, timeout=5),
        timeout=5,
    )
    return DlmsClient(transport=transport, authentication=NoSecurityAuthentication(), timeout=5)


async def test_dlms_cosem_client_reads_the_daily_values(
    served: tuple[SimulatedMeter, int],
) -> None:
    meter, port = served
    clock = cosem.CosemAttribute(enums.CosemInterface.CLOCK, cosem.Obis(0, 0, 1, 0, 0), 2)
    daily = cosem.CosemAttribute(
        enums.CosemInterface.PROFILE_GENERIC, cosem.Obis(1, 0, 99, 2, 0), 2
    )
    columns = cosem.CosemAttribute(
        enums.CosemInterface.PROFILE_GENERIC, cosem.Obis(1, 0, 99, 2, 0), 3
    )

    def run() -> tuple[Any, Any]:
        client = _client(port)
        with client.session():
            descriptor = RangeDescriptor(
                restricting_object=CaptureObject(clock), from_value=utc_midnight(2), to_value=NOW
            )
            rows = utils.parse_as_dlms_data(client.get(daily, access_descriptor=descriptor))
            return rows, utils.parse_as_dlms_data(client.get(columns))

    rows, capture_objects = await asyncio.to_thread(run)
    assert [bytes(c[1]) for c in capture_objects] == [
        bytes([0, 0, 1, 0, 0, 255]),
        *(bytes([1, 0, c, 8, t, 255]) for c, t in ((1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (2, 0))),
    ]
    assert len(rows) == 3
    for row, when in zip(rows, [utc_midnight(2), utc_midnight(1), utc_midnight(0)], strict=True):
        stamp = bytes(row[0])
        assert (int.from_bytes(stamp[:2], "big"), stamp[2], stamp[3]) == (
            when.year,
            when.month,
            when.day,
        )
        assert (stamp[5], stamp[6], stamp[7]) == (0, 0, 0)
        assert row[1:] == list(registers_at(when).values())
        captured = meter.daily.between(when, when)[0]
        assert row[1] == captured.import_wh
