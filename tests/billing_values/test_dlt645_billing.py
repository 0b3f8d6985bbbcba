"""DL/T 645: daily freezes (1.0.99.2.0.255) and settlement-day data (0.0.98.1.0.255) of the
simulated line, read by our driver through a TCP serial converter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

import pytest

from drivers.contract import Point
from drivers.dlt645 import open_session
from drivers.dlt645.identifiers import freeze_time_di, settlement_di
from drivers.dlt645.session import Dlt645Session
from drivers.dlt645.settings import Dlt645Settings
from drivers.errors import ObjectUnavailable
from drivers.sim.dlt645_sim import Dlt645Simulator, line_offset
from drivers.sim.physics import SimulatedMeter
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
)

DAILY = "1.0.99.2.0.255"
MONTHLY = "0.0.98.1.0.255"
ADDRESS = "000000001234"
PLAIN = "000000005678"  # a meter whose billing day is UTC's: the load-profile fallback
# Shanghai is UTC+8: its midnight is 16:00 UTC the day before; NOW is 18:07 there on 3 March.
LOCAL_MIDNIGHT = datetime(2025, 3, 2, 16, 0, tzinfo=UTC)


def midnight(days_ago: int) -> datetime:
    return LOCAL_MIDNIGHT - timedelta(days=days_ago)


def as_read(wh: int) -> Decimal:
    """A register as the meter shows it: kWh with two decimals, truncated; back in Wh."""
    kwh = (Decimal(wh) / 1000).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    return kwh * 1000


@pytest.fixture
async def line(tcp_port: int) -> AsyncIterator[tuple[SimulatedMeter, TcpLink]]:
    clock = frozen_clock()
    meter = SimulatedMeter(
        "d1", clock, seed=SEED, history=HISTORY, billing_offset=line_offset("Asia/Shanghai")
    )
    plain = SimulatedMeter("d2", clock, seed=SEED, history=HISTORY)
    simulator = Dlt645Simulator({ADDRESS: meter, PLAIN: plain}, timezone="Asia/Shanghai")
    server = await simulator.start_tcp("127.0.0.1", tcp_port)
    yield meter, TcpLink(host="127.0.0.1", port=tcp_port)
    server.close()
    await simulator.aclose()
    await server.wait_closed()


async def session(link: TcpLink, address: str = ADDRESS) -> Dlt645Session:
    settings = Dlt645Settings(link=link, address=address, timeout_s=5.0)
    return await open_session(settings, meter_id=address)


async def test_daily_freezes_of_the_last_three_days(
    line: tuple[SimulatedMeter, TcpLink],
) -> None:
    _, link = line
    async with await session(link) as s:
        readings = await s.read_profile(Point(obis=DAILY), midnight(2), NOW)
    rows = by_capture(readings)
    assert sorted(rows) == [midnight(2), midnight(1), midnight(0)]
    for when, values in rows.items():
        assert set(values) == set(COLUMNS)  # the forward block carries the tariffs
        assert values == {obis: as_read(wh) for obis, wh in registers_at(when).items()}
    assert_non_decreasing(rows)
    assert rows[midnight(0)]["1.0.1.8.0.255"] > rows[midnight(2)]["1.0.1.8.0.255"]


async def test_freezes_1_to_62_are_consecutive_local_midnights(
    line: tuple[SimulatedMeter, TcpLink],
) -> None:
    meter, link = line
    async with await session(link) as s:
        readings = await s.read_profile(Point(obis=DAILY), NOW - HISTORY, NOW)
        with pytest.raises(ObjectUnavailable):
            await s.read_di(freeze_time_di(63))
    rows = by_capture(readings)
    assert sorted(rows) == [midnight(n) for n in range(61, -1, -1)]
    for row in meter.daily.rows():
        assert rows[row.clock]["1.0.1.8.0.255"] == as_read(row.import_wh)
    assert_non_decreasing(rows)


async def test_settlements_over_two_months(line: tuple[SimulatedMeter, TcpLink]) -> None:
    _, link = line
    async with await session(link) as s:
        readings = await s.read_profile(Point(obis=MONTHLY), datetime(2025, 1, 15, tzinfo=UTC), NOW)
        everything = await s.read_profile(Point(obis=MONTHLY), NOW - timedelta(days=365), NOW)
        with pytest.raises(ObjectUnavailable):
            await s.read_di(settlement_di(1, 0, 4))  # the meter lived through three
    rows = by_capture(readings)
    # the 1st at 00:00 in Shanghai
    firsts = [datetime(2025, 1, 31, 16, tzinfo=UTC), datetime(2025, 2, 28, 16, tzinfo=UTC)]
    assert sorted(rows) == firsts
    for when in firsts:
        assert rows[when] == {obis: as_read(wh) for obis, wh in registers_at(when).items()}
    assert_non_decreasing(rows)
    assert sorted(by_capture(everything)) == [datetime(2024, 12, 31, 16, tzinfo=UTC), *firsts]


async def test_a_window_without_a_capture_gives_no_rows(
    line: tuple[SimulatedMeter, TcpLink],
) -> None:
    _, link = line
    async with await session(link) as s:
        daily = await s.read_profile(
            Point(obis=DAILY),
            midnight(1) + timedelta(minutes=1),
            midnight(0) - timedelta(minutes=1),
        )
        monthly = await s.read_profile(
            Point(obis=MONTHLY), NOW - timedelta(days=400), NOW - timedelta(days=100)
        )
    assert daily == []
    assert monthly == []


async def test_a_meter_billing_on_another_zone_falls_back_to_its_load_profile(
    line: tuple[SimulatedMeter, TcpLink],
) -> None:
    _, link = line
    async with await session(link, PLAIN) as s:
        daily = await s.read_profile(Point(obis=DAILY), midnight(2), NOW)
        monthly = await s.read_profile(Point(obis=MONTHLY), datetime(2025, 2, 15, tzinfo=UTC), NOW)
    rows = by_capture(daily)
    assert sorted(rows) == [midnight(2), midnight(1), midnight(0)]
    for when, values in rows.items():
        expected = registers_at(when)
        assert values == {
            obis: as_read(expected[obis]) for obis in ("1.0.1.8.0.255", "1.0.2.8.0.255")
        }
    (first,) = by_capture(monthly).items()
    assert first[0] == datetime(2025, 2, 28, 16, tzinfo=UTC)
    assert first[1]["1.0.1.8.0.255"] == as_read(registers_at(first[0])["1.0.1.8.0.255"])
