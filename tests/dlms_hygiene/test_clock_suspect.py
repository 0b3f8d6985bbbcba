"""clock-suspect: values read with a meter clock that says invalid/doubtful, or that drifted past
the configured threshold, are flagged and keyed on the receive time, over real TCP.

The simulated meter's clock reports `SimulatedMeter.clock_status` in its date-time and runs
`clock_offset` away from simulated time. The simulated clock is frozen, so a meter clock with a
bad status is also stuck: every read gives the same meter time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from drivers.contract import Point, Quality, Reading
from drivers.dlms.settings import DlmsSettings
from drivers.dlt645 import open_session
from drivers.dlt645.identifiers import CLOCK_OBIS
from drivers.dlt645.settings import Dlt645Settings
from drivers.sim.clock import SimClock
from drivers.sim.dlt645_sim import Dlt645Simulator
from drivers.sim.physics import CLOCK, IMPORT_TOTAL, VOLTAGE, SimulatedMeter
from drivers.transport.settings import TcpLink
from headend.config import load_config
from headend.config.settings import meter_settings
from headend.store import SqliteStore
from tests.conftest import free_port

from .conftest import Hygiene

HANG_GUARD_S = 15.0
POINTS = [Point(obis=CLOCK), Point(obis=IMPORT_TOTAL), Point(obis=VOLTAGE[0])]


def by_obis(readings: list[Reading]) -> dict[str, Reading]:
    return {r.obis: r for r in readings}


async def read_once(hygiene: Hygiene, **settings: object) -> dict[str, Reading]:
    async with asyncio.timeout(HANG_GUARD_S):
        async with await hygiene.open(await hygiene.settings(**settings)) as session:  # type: ignore[arg-type]
            return by_obis(await session.read(POINTS))


def cosem_time(meter: SimulatedMeter) -> datetime:
    """The meter's time as a COSEM date-time carries it: to the hundredth of a second."""
    now = meter.now()
    return now.replace(microsecond=now.microsecond // 10_000 * 10_000)


def assert_suspect(readings: dict[str, Reading], meter_time: datetime) -> None:
    assert readings[CLOCK].value == meter_time  # kept as read
    for reading in readings.values():
        assert reading.quality is Quality.CLOCK_SUSPECT, reading.obis
        assert reading.capture_time is None, reading.obis


@pytest.mark.parametrize("status", [0x01, 0x02, 0x04, 0x08, 0x03])
@pytest.mark.parametrize("max_list", [10, 1], ids=["get-list", "one-by-one"])
async def test_clock_status_invalid_or_doubtful(
    hygiene: Hygiene, status: int, max_list: int
) -> None:
    hygiene.meter.clock_status = status
    readings = await read_once(hygiene, max_list=max_list)
    assert_suspect(readings, cosem_time(hygiene.meter))
    assert readings[IMPORT_TOTAL].value == hygiene.meter.value(IMPORT_TOTAL)


async def test_daylight_saving_bit_is_no_reason_for_suspicion(hygiene: Hygiene) -> None:
    hygiene.meter.clock_status = 0x80
    readings = await read_once(hygiene)
    meter_time = cosem_time(hygiene.meter)
    assert readings[CLOCK].quality is Quality.OK and readings[CLOCK].capture_time == meter_time
    assert readings[IMPORT_TOTAL].capture_time == meter_time
    assert readings[IMPORT_TOTAL].quality is Quality.OK


@pytest.mark.parametrize("max_list", [10, 1], ids=["get-list", "one-by-one"])
async def test_drift_beyond_the_threshold(hygiene: Hygiene, max_list: int) -> None:
    # the simulated clock started at the wall clock's now and is frozen: a few seconds behind
    hygiene.meter.clock_offset = timedelta(minutes=10)
    drifted = await read_once(hygiene, max_list=max_list, clock_drift_max_s=60.0)
    assert_suspect(drifted, cosem_time(hygiene.meter))
    # the same clock with no drift threshold, and a small drift under one, are trusted
    unchecked = await read_once(hygiene, max_list=max_list)
    assert unchecked[IMPORT_TOTAL].quality is Quality.OK
    hygiene.meter.clock_offset = timedelta(seconds=-5)
    near = await read_once(hygiene, max_list=max_list, clock_drift_max_s=60.0)
    meter_time = cosem_time(hygiene.meter)
    assert near[IMPORT_TOTAL].quality is Quality.OK
    assert near[IMPORT_TOTAL].capture_time == meter_time == near[CLOCK].capture_time


async def test_stuck_invalid_clock_gives_two_observations_in_the_store(
    hygiene: Hygiene, tmp_path: Path
) -> None:
    hygiene.meter.clock_status = 0x01
    async with await SqliteStore.open(tmp_path / "s.sqlite3") as store:
        first = await read_once(hygiene)
        second = await read_once(hygiene)
        assert first[CLOCK].value == second[CLOCK].value  # the meter's clock did not move
        assert await store.save_readings(list(first.values())) == len(POINTS)
        assert await store.save_readings(list(second.values())) == len(POINTS)
        assert await store.count_readings(hygiene.meter_id) == 2 * len(POINTS)
        stored = await store.readings(meter_id=hygiene.meter_id)
    energy = [r for r in stored if r.obis == IMPORT_TOTAL]
    assert len(energy) == 2 and all(r.quality is Quality.CLOCK_SUSPECT for r in energy)


async def test_stuck_valid_clock_would_collide(hygiene: Hygiene, tmp_path: Path) -> None:
    """The failure the flag prevents: trusted, a stuck clock gives the second read the key of
    the first, so it is no new observation."""
    async with await SqliteStore.open(tmp_path / "s.sqlite3") as store:
        first = await read_once(hygiene)
        second = await read_once(hygiene)
        assert first[IMPORT_TOTAL].capture_time == second[IMPORT_TOTAL].capture_time
        assert await store.save_readings(list(first.values())) == len(POINTS)
        assert await store.save_readings(list(second.values())) == 0


# -- DL/T 645 ----------------------------------------------------------------------------------

ADDRESS = "123456789012"


@pytest.mark.parametrize(
    ("offset", "limit", "suspect"),
    [
        (timedelta(minutes=10), 60.0, True),
        (timedelta(minutes=-10), 60.0, True),
        (timedelta(seconds=0), 60.0, False),
        (timedelta(minutes=10), None, False),
    ],
)
async def test_dlt645_drifted_clock(offset: timedelta, limit: float | None, suspect: bool) -> None:
    # Shanghai time at 11:00; the freeze of last midnight is in the meter
    clock = SimClock(datetime.now(UTC).replace(microsecond=0), factor=0)
    meter = SimulatedMeter("dl", clock, seed=3, history=timedelta(hours=30))
    meter.clock_offset = offset
    simulator = Dlt645Simulator({ADDRESS: meter})
    port = free_port()
    server = await simulator.start_tcp("127.0.0.1", port)
    settings = Dlt645Settings(
        link=TcpLink(host="127.0.0.1", port=port), address=ADDRESS, clock_drift_max_s=limit
    )
    points = [Point(obis=CLOCK_OBIS), Point(obis="1.0.1.8.0.255"), Point(obis="1.0.1.8.0.101")]
    try:
        async with asyncio.timeout(HANG_GUARD_S):
            async with await open_session(settings, meter_id="dl") as session:
                readings = by_obis(await session.read(points))
    finally:
        server.close()
        await simulator.aclose()
        await server.wait_closed()
    meter_time = meter.now().replace(microsecond=0)
    assert readings[CLOCK_OBIS].value == meter_time
    assert isinstance(readings["1.0.1.8.0.255"].value, Decimal)
    assert readings["1.0.1.8.0.255"].capture_time is None  # current values never had one
    freeze = readings["1.0.1.8.0.101"]
    assert freeze.capture_time is not None  # the freeze keeps its stamp: it names the freeze
    if suspect:
        assert readings[CLOCK_OBIS].capture_time is None
        assert readings[CLOCK_OBIS].quality is Quality.CLOCK_SUSPECT
        assert freeze.quality is Quality.CLOCK_SUSPECT
        assert readings["1.0.1.8.0.255"].quality is Quality.OK
    else:
        assert readings[CLOCK_OBIS].capture_time == meter_time
        assert all(r.quality is Quality.OK for r in readings.values())


# -- the head-end's policy ---------------------------------------------------------------------

FLEET = """
[reading]
clock_drift_max_s = {drift}

[[channels]]
id = "gprs"
host = "127.0.0.1"
port = 4059

[[channels]]
id = "line"
host = "127.0.0.1"
port = 4060

[[meters]]
id = "d1"
protocol = "dlms"
channel = "gprs"

[[meters]]
id = "c1"
protocol = "dlt645"
channel = "line"
address = "230500000001"
"""


@pytest.mark.parametrize("drift", [None, 15.5])
def test_reading_policy_carries_the_drift_threshold(tmp_path: Path, drift: float | None) -> None:
    path = tmp_path / "fleet.toml"
    text = FLEET.format(drift=drift)
    path.write_text(text if drift is not None else text.replace("clock_drift_max_s = None", ""))
    config = load_config(path, env={})
    expected = 60.0 if drift is None else drift
    dlms, dlt645 = meter_settings(config, "d1"), meter_settings(config, "c1")
    assert isinstance(dlms, DlmsSettings) and isinstance(dlt645, Dlt645Settings)
    assert dlms.clock_drift_max_s == dlt645.clock_drift_max_s == expected
