"""The simulator's event logs read by our DLMS driver over the wrapper on real TCP."""

from __future__ import annotations

from datetime import timedelta

from drivers.contract import Command, CommandKind, EventLogReader, MeterEvent, Point
from drivers.dlms import events as codes
from drivers.dlms.client.session import open_dlms_session
from drivers.sim.physics import SimulatedMeter
from drivers.transport.settings import TcpLink
from tests.events.conftest import METER, SECRETS, START, Rig

MINUTE = timedelta(minutes=1)
STANDARD = Point(obis=codes.STANDARD_EVENT_LOG)
FRAUD = Point(obis=codes.FRAUD_DETECTION_LOG)
DISCONNECTOR = Point(obis=codes.DISCONNECTOR_CONTROL_LOG)


async def _live_events(rig: Rig) -> None:
    """Power failure and restore, a cover opened, a time sync, a disconnect and a reconnect,
    one minute of simulated time apart (the meter's clock)."""
    rig.clock.advance(MINUTE)
    rig.meter.power_fail()  # START + 1 min
    rig.clock.advance(5 * MINUTE)
    rig.meter.power_restore()  # + 6 min
    rig.clock.advance(MINUTE)
    rig.meter.open_cover()  # + 7 min
    rig.clock.advance(MINUTE)
    async with await rig.open() as session:
        # the meter's clock moves from +8 min to +8 min 20 s
        result = await session.execute(
            Command(kind=CommandKind.TIME_SYNC, time=START + 8 * MINUTE + timedelta(seconds=20))
        )
        assert result.ok, result.detail
        rig.clock.advance(MINUTE)
        assert (await session.execute(Command(kind=CommandKind.DISCONNECT))).ok
        rig.clock.advance(MINUTE)
        assert (await session.execute(Command(kind=CommandKind.RECONNECT))).ok


def _pairs(found: list[MeterEvent]) -> list[tuple[int, timedelta]]:
    return [(e.code, e.time - START) for e in found]


async def test_each_log_gives_its_codes_at_the_meters_times(rig: Rig) -> None:
    await _live_events(rig)
    async with await rig.open() as session:
        assert isinstance(session, EventLogReader)
        window = (START, START + timedelta(hours=1))
        standard = await session.read_events(STANDARD, *window)
        fraud = await session.read_events(FRAUD, *window)
        relay = await session.read_events(DISCONNECTOR, *window)
    synced = 8 * MINUTE + timedelta(seconds=20)
    assert _pairs(standard) == [
        (codes.POWER_DOWN, MINUTE),
        (codes.POWER_UP, 6 * MINUTE),
        (codes.CLOCK_ADJUSTED_OLD, 8 * MINUTE),
        (codes.CLOCK_ADJUSTED_NEW, synced),
    ]
    assert _pairs(fraud) == [(codes.TERMINAL_COVER_OPENED, 7 * MINUTE)]
    assert _pairs(relay) == [
        (codes.REMOTE_DISCONNECTION, synced + MINUTE),
        (codes.REMOTE_CONNECTION, synced + 2 * MINUTE),
    ]
    assert {e.meter_id for e in standard + fraud + relay} == {METER}
    assert [e.log for e in standard] == [codes.STANDARD_EVENT_LOG] * 4
    assert standard[0].text == "Power down (all phases)"
    assert relay[0].name == "remote_disconnection"
    assert all(e.time.utcoffset() == timedelta(0) for e in standard)


async def test_the_range_selects_and_a_second_read_is_identical(rig: Rig) -> None:
    await _live_events(rig)
    async with await rig.open() as session:
        # only the power restore lies in this window (bounds inclusive)
        narrow = await session.read_events(STANDARD, START + 6 * MINUTE, START + 7 * MINUTE)
        # the meter's power-up when it was installed, two days back, is in the log too
        whole = await session.read_events(STANDARD, START - timedelta(days=3), START)
        first = await session.read_events(STANDARD, START, START + timedelta(hours=1))
    async with await rig.open() as session:
        second = await session.read_events(STANDARD, START, START + timedelta(hours=1))
    assert _pairs(narrow) == [(codes.POWER_UP, 6 * MINUTE)]
    assert _pairs(whole) == [(codes.POWER_UP, -timedelta(days=2))]
    assert len(first) == 4
    assert first == second  # same codes, same meter times: the store keys them equal


async def test_a_log_without_entries_in_range_is_empty(rig: Rig) -> None:
    async with await rig.open() as session:
        assert await session.read_events(FRAUD, START - timedelta(days=5), START) == []


async def test_a_meter_without_selective_access_is_filtered_here(rig: Rig) -> None:
    other = SimulatedMeter("M2", rig.clock, seed=4)
    rig.sim.add_meter(other, SECRETS, withhold=["selective_access"])
    port = await rig.sim.serve_wrapper("M2")
    rig.clock.advance(MINUTE)
    other.power_fail()
    rig.clock.advance(MINUTE)
    other.power_restore()
    settings = rig.settings.model_copy(update={"link": TcpLink(host="127.0.0.1", port=port)})
    async with await open_dlms_session(settings, meter_id="M2") as session:
        assert not session.grants("selective_access")
        found = await session.read_events(STANDARD, START + 2 * MINUTE, START + MINUTE * 10)
    # the whole buffer came (with the install-time power-up and the power down); the
    # range was applied here
    assert _pairs(found) == [(codes.POWER_UP, 2 * MINUTE)]
    assert found[0].meter_id == "M2"
