"""The driver against the DL/T 645 simulator over TCP: values, units, errors, commands."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from drivers.contract import Command, CommandKind, MeterSession, PartialRead, Point
from drivers.dlt645 import default_points, open_session
from drivers.dlt645.frame import Function
from drivers.errors import (
    AuthenticationFailed,
    ChannelDown,
    CommandRejected,
    MalformedFrame,
    ObjectUnavailable,
    Timeout,
    Unsupported,
)
from drivers.sim.clock import SimClock
from drivers.sim.dlt645_sim import Dlt645Simulator
from drivers.sim.physics import SimulatedMeter
from drivers.transport.settings import TcpLink
from tests.dlt645.conftest import ADDRESSES, settings_for
from tests.dlt645.expected import expected_values


async def test_reads_every_default_point_with_units(
    tcp_link: TcpLink, meters: dict[str, SimulatedMeter], clock: SimClock
) -> None:
    async with await open_session(settings_for(tcp_link), meter_id="m0") as session:
        assert isinstance(session, MeterSession)
        readings = await session.read(default_points())
    by_obis = {r.obis: r for r in readings}
    assert len(by_obis) == len(default_points())
    for obis, value in expected_values(meters[ADDRESSES[0]]).items():
        assert by_obis[obis].value == value, obis
    assert by_obis["1.0.1.8.0.255"].unit == "Wh"
    assert by_obis["1.0.32.7.0.255"].unit == "V"
    assert by_obis["1.0.31.7.0.255"].unit == "A"
    assert by_obis["1.0.16.7.0.255"].unit == "W"
    assert by_obis["0.0.1.0.0.255"].value == clock.now().replace(microsecond=0)
    assert all(isinstance(r.value, Decimal) for o, r in by_obis.items() if o != "0.0.1.0.0.255")


async def test_last_daily_freeze_comes_from_the_load_profile(
    tcp_link: TcpLink, meters: dict[str, SimulatedMeter], clock: SimClock
) -> None:
    # Local midnight in Shanghai (UTC+8) before 11:00 local is 16:00 UTC the day before.
    midnight = clock.now().replace(hour=16) - timedelta(days=1)
    row = meters[ADDRESSES[0]].profile_rows(midnight, midnight)[0]
    async with await open_session(settings_for(tcp_link), meter_id="m0") as session:
        (reading,) = await session.read([Point(obis="1.0.1.8.0.101")])
        assert reading.capture_time == midnight
        assert reading.value == (row.import_wh // 10) * 10
        profile = await session.read_profile(
            Point(obis="1.0.99.2.0.255"), midnight - timedelta(days=5), midnight
        )
    assert [(r.obis, r.capture_time) for r in profile] == [
        ("1.0.1.8.0.255", midnight),
        ("1.0.2.8.0.255", midnight),
    ]


async def test_follow_up_frames_are_joined(meters: dict[str, SimulatedMeter], tcp_port: int):
    # max_data 6 leaves room for 2 value bytes: every 4-byte energy needs a follow-up frame.
    sim = Dlt645Simulator(meters, max_data=6)
    server = await sim.start_tcp("127.0.0.1", tcp_port)
    try:
        link = TcpLink(host="127.0.0.1", port=tcp_port)
        async with await open_session(settings_for(link), meter_id="m0") as session:
            (reading,) = await session.read([Point(obis="1.0.1.8.0.255")])
        assert reading.value == expected_values(meters[ADDRESSES[0]])["1.0.1.8.0.255"]
        assert Function.READ_FOLLOWUP in {f.function for f in sim.received}
    finally:
        server.close()
        await sim.aclose()


async def test_sessions_share_the_line_one_request_at_a_time(
    tcp_link: TcpLink, meters: dict[str, SimulatedMeter], simulator: Dlt645Simulator
) -> None:
    sessions = [
        await open_session(settings_for(tcp_link, a), meter_id=f"m{i}")
        for i, a in enumerate(ADDRESSES)
    ]
    try:
        points = [Point(obis="1.0.1.8.0.255"), Point(obis="1.0.32.7.0.255")]
        results = await asyncio.gather(*(s.read(points) for s in sessions for _ in range(3)))
    finally:
        for s in sessions:
            await s.close()
    for k, readings in enumerate(results):
        want = expected_values(meters[ADDRESSES[k // 3]])
        assert [r.value for r in readings] == [want[p.obis] for p in points]
    assert len(simulator.received) == 2 * 3 * len(ADDRESSES)


async def test_silent_meter_times_out_and_others_still_answer(
    tcp_link: TcpLink, simulator: Dlt645Simulator
) -> None:
    simulator.silent.add(bytes(reversed(bytes.fromhex(ADDRESSES[1]))))
    dead = await open_session(settings_for(tcp_link, ADDRESSES[1], timeout_s=0.3), meter_id="m1")
    alive = await open_session(settings_for(tcp_link, ADDRESSES[2]), meter_id="m2")
    try:
        with pytest.raises(PartialRead) as info:
            await dead.read([Point(obis="1.0.1.8.0.255"), Point(obis="1.0.32.7.0.255")])
        assert info.value.fatal and not info.value.readings
        assert all(isinstance(f, Timeout) and f.meter == "m1" for f in info.value.failures)
        assert len(await alive.read([Point(obis="1.0.1.8.0.255")])) == 1
    finally:
        await dead.close()
        await alive.close()


async def test_missing_data_and_unknown_obis_are_typed(tcp_port: int, clock: SimClock) -> None:
    # One hour of history: no midnight in the load profile, so the meter has no daily freeze.
    meter = SimulatedMeter("young", clock, history=timedelta(hours=1))
    sim = Dlt645Simulator({ADDRESSES[0]: meter})
    server = await sim.start_tcp("127.0.0.1", tcp_port)
    try:
        link = TcpLink(host="127.0.0.1", port=tcp_port)
        async with await open_session(settings_for(link), meter_id="y") as session:
            with pytest.raises(PartialRead) as info:
                await session.read(
                    [
                        Point(obis="1.0.1.8.0.101"),
                        Point(obis="1.0.9.9.9.255"),
                        Point(obis="1.0.1.8.0.255"),
                    ]
                )
            assert not info.value.fatal
            assert [r.obis for r in info.value.readings] == ["1.0.1.8.0.255"]
            unavailable, unsupported = info.value.failures
            assert isinstance(unavailable, ObjectUnavailable)
            assert "05 06 01 01" in str(unavailable) and "no such data" in str(unavailable)
            assert isinstance(unsupported, Unsupported) and unsupported.obis == "1.0.9.9.9.255"
            with pytest.raises(Unsupported):
                await session.read_profile(Point(obis="1.0.99.1.0.255"), clock.now(), clock.now())
    finally:
        server.close()
        await sim.aclose()


async def test_relay_control_trips_and_closes(
    tcp_link: TcpLink, meters: dict[str, SimulatedMeter]
) -> None:
    meter = meters[ADDRESSES[0]]
    async with await open_session(settings_for(tcp_link), meter_id="m0") as session:
        result = await session.execute(Command(kind=CommandKind.DISCONNECT))
        assert result.ok and not meter.connected
        result = await session.execute(Command(kind=CommandKind.RECONNECT))
        assert result.ok and meter.connected
        with pytest.raises(Unsupported):
            await session.execute(Command(kind=CommandKind.SET_LOAD_LIMIT, limit_w=Decimal(1)))


async def test_relay_control_refusals_name_the_reason(
    tcp_link: TcpLink, meters: dict[str, SimulatedMeter]
) -> None:
    wrong = settings_for(tcp_link, password=bytes.fromhex("02999999"))
    async with await open_session(wrong, meter_id="m0") as session:
        with pytest.raises(CommandRejected) as info:
            await session.execute(Command(kind=CommandKind.DISCONNECT))
    text = str(info.value)
    assert "wrong password" in text and "ESAM" in text and "999999" not in text
    assert meters[ADDRESSES[0]].connected
    esam = settings_for(tcp_link, password=bytes.fromhex("98000000"))
    async with await open_session(esam, meter_id="m0") as session:
        with pytest.raises(Unsupported, match="ESAM"):
            await session.execute(Command(kind=CommandKind.DISCONNECT))
    nopass = settings_for(tcp_link, password=None)
    async with await open_session(nopass, meter_id="m0") as session:
        with pytest.raises(AuthenticationFailed):
            await session.execute(Command(kind=CommandKind.DISCONNECT))


async def test_time_broadcast_is_confirmed_by_reading_the_clock(
    tcp_link: TcpLink, clock: SimClock, meters: dict[str, SimulatedMeter]
) -> None:
    async with await open_session(settings_for(tcp_link), meter_id="m0") as session:
        target = clock.now() + timedelta(seconds=90)
        result = await session.execute(Command(kind=CommandKind.TIME_SYNC, time=target))
        assert result.ok, result.detail
        # A broadcast sets every meter on the line; each keeps its own clock.
        assert [meter.now() for meter in meters.values()] == [target] * len(meters)
        # Meters refuse broadcast corrections above 5 minutes: the driver reports it.
        result = await session.execute(
            Command(kind=CommandKind.TIME_SYNC, time=target + timedelta(hours=1))
        )
        assert not result.ok and "5 minutes" in result.detail
        assert all(meter.now() == target for meter in meters.values())


async def test_read_address_of_the_only_meter(tcp_port: int, clock: SimClock) -> None:
    meter = SimulatedMeter("only", clock, history=timedelta(hours=1))
    sim = Dlt645Simulator({"410000123456": meter})
    server = await sim.start_tcp("127.0.0.1", tcp_port)
    try:
        link = TcpLink(host="127.0.0.1", port=tcp_port)
        async with await open_session(settings_for(link, "AAAAAAAAAAAA"), meter_id="?") as s:
            assert await s.read_address() == "410000123456"
            # The wildcard also reads data from the only meter on the line.
            assert len(await s.read([Point(obis="1.0.1.8.0.255")])) == 1
    finally:
        server.close()
        await sim.aclose()


async def _one_shot_server(port: int, reply: bytes | None) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        if reply is not None:
            writer.write(reply)
            await writer.drain()
            await asyncio.sleep(5)  # keep the socket open: the driver must give up on its own
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", port)


@pytest.mark.parametrize(
    "reply",
    [
        bytes.fromhex("FEFE68129078563412689108333334338967453399"),  # bad checksum, no end
        bytes.fromhex("68129078563412689108333334338967453354") + b"\x17",  # bad end byte
        b"\x00\x11 line noise \xff" * 4,
    ],
)
async def test_malformed_reply_is_typed(tcp_port: int, reply: bytes) -> None:
    server = await _one_shot_server(tcp_port, reply)
    try:
        link = TcpLink(host="127.0.0.1", port=tcp_port)
        async with await open_session(settings_for(link, timeout_s=0.5), meter_id="b") as s:
            with pytest.raises(PartialRead) as info:
                await s.read([Point(obis="1.0.1.8.0.255")])
        (failure,) = info.value.failures
        assert isinstance(failure, (MalformedFrame, Timeout)) and failure.meter == "b"
        if reply.startswith(b"\x00"):
            assert isinstance(failure, MalformedFrame)
    finally:
        server.close()


async def test_closed_connection_is_channel_down(tcp_port: int) -> None:
    server = await _one_shot_server(tcp_port, None)
    try:
        link = TcpLink(host="127.0.0.1", port=tcp_port)
        async with await open_session(settings_for(link), meter_id="c") as s:
            with pytest.raises(PartialRead) as info:
                await s.read([Point(obis="1.0.1.8.0.255")])
        assert isinstance(info.value.failures[0], ChannelDown) and info.value.fatal
    finally:
        server.close()


async def test_no_listener_is_channel_down(tcp_port: int) -> None:
    with pytest.raises(ChannelDown):
        await open_session(settings_for(TcpLink(host="127.0.0.1", port=tcp_port)), meter_id="x")
