"""Bad replies give typed errors naming meter and OBIS, never a crash or a hang; byte/word-order
variants read correctly; commands go to the map's writable registers."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from drivers.contract import Command, CommandKind, PartialRead, Point
from drivers.errors import MalformedFrame, ObjectUnavailable, ProtocolError, Timeout, Unsupported
from drivers.modbus import open_session
from drivers.modbus.registermap import load_map
from drivers.modbus.settings import ModbusFraming, ModbusSettings
from drivers.sim.modbus import Fault, ModbusSimServer
from drivers.transport.pty import PtyPair
from drivers.transport.settings import SerialLink, TcpLink

from .helpers import device, session, write_map

VARIANT = """
model = "variant"
max_registers_per_request = 10
max_gap = 2

[[registers]]
obis = "1.0.1.8.0.255"
address = 0
data_type = "uint32"
word_order = "little"
unit = "Wh"

[[registers]]
obis = "1.0.32.7.0.255"
address = 2
data_type = "uint16"
byte_order = "little"
scale = "0.1"
unit = "V"

[[registers]]
obis = "1.0.21.7.0.255"
address = 3
data_type = "int32"
word_order = "little"
byte_order = "little"
unit = "W"

[[registers]]
obis = "1.0.31.7.0.255"
address = 5
data_type = "float64"
word_order = "little"
unit = "A"

[[registers]]
obis = "1.0.14.7.0.255"
address = 9
data_type = "int16"
scale = "0.01"
unit = "Hz"

[[registers]]
obis = "1.0.1.7.0.255"
function = 4
address = 20
byte_order = "little"
unit = "W"

[[commands]]
kind = "disconnect"
address = 0x0100
function = 6
data_type = "uint16"
value = 0

[[commands]]
kind = "reconnect"
address = 0x0100
function = 6
data_type = "uint16"
value = 1

[[commands]]
kind = "set_load_limit"
address = 0x0102
data_type = "uint32"
"""


def variant_settings(
    maps: Path, port: int, unit: int = 1, model: str = "variant"
) -> ModbusSettings:
    return ModbusSettings(
        link=TcpLink(host="127.0.0.1", port=port),
        framing=ModbusFraming.SOCKET,
        unit=unit,
        model=model,
        maps_dir=maps,
        timeout_s=2.0,
    )


async def test_order_and_type_variants(tmp_path: Path, tcp_port: int) -> None:
    write_map(tmp_path, "variant", VARIANT)
    register_map = load_map("variant", tmp_path)
    dev = device(register_map, seed=4)
    async with ModbusSimServer({1: dev}) as server:
        await server.serve_tcp("127.0.0.1", tcp_port)
        async with await open_session(variant_settings(tmp_path, tcp_port), meter_id="v") as s:
            readings = await s.read(s.points())
    assert len(readings) == 6
    for reading in readings:
        assert reading.value == dev.value(reading.obis), reading.obis
    # 10 holding registers in one request, the input register in another
    assert [(e.function, e.request_bytes) for e in server.wire] == [(3, 12), (4, 12)]


async def test_execute_writes_and_reads_back(tmp_path: Path, tcp_port: int) -> None:
    write_map(tmp_path, "variant", VARIANT)
    dev = device(load_map("variant", tmp_path), seed=4)
    async with ModbusSimServer({1: dev}) as server:
        await server.serve_tcp("127.0.0.1", tcp_port)
        async with await open_session(variant_settings(tmp_path, tcp_port), meter_id="v") as s:
            result = await s.execute(Command(id="c1", kind=CommandKind.DISCONNECT))
            assert result.ok and result.command_id == "c1" and result.meter_id == "v"
            assert dev.meter.connected is False
            (power,) = await s.read([Point(obis="1.0.1.7.0.255")])
            assert power.value == 0
            await s.execute(Command(kind=CommandKind.RECONNECT))
            assert dev.meter.connected is True
            await s.execute(Command(kind=CommandKind.SET_LOAD_LIMIT, limit_w=Decimal(1500)))
            assert dev.meter.limit_w == 1500
            with pytest.raises(Unsupported, match="time_sync"):
                await s.execute(Command(kind=CommandKind.TIME_SYNC))


async def test_execute_without_writable_registers(tcp_port: int) -> None:
    async with ModbusSimServer({1: device("dtsu666")}) as server:
        await server.serve_tcp("127.0.0.1", tcp_port)
        async with await session(f"modbus+tcp://127.0.0.1:{tcp_port}?unit=1&model=dtsu666") as s:
            with pytest.raises(Unsupported) as info:
                await s.execute(Command(kind=CommandKind.DISCONNECT))
    assert info.value.meter == "m1" and "dtsu666" in str(info.value)


async def test_exception_response(tmp_path: Path, tcp_port: int) -> None:
    # The driver's map has a register the (real sdm120) device does not: exception 02.
    write_map(
        tmp_path,
        "sdm120x",
        'model = "sdm120x"\nmax_registers_per_request = 60\n'
        '[[registers]]\nobis = "1.0.1.8.0.255"\nfunction = 4\naddress = 0x0048\n'
        'scale = "1000"\nunit = "Wh"\n'
        '[[registers]]\nobis = "1.0.13.7.0.255"\nfunction = 4\naddress = 0x0400\n',
    )
    async with ModbusSimServer({1: device("sdm120")}) as server:
        await server.serve_tcp("127.0.0.1", tcp_port)
        settings = variant_settings(tmp_path, tcp_port, model="sdm120x")
        async with await open_session(settings, meter_id="x") as s:
            with pytest.raises(PartialRead) as info:
                await s.read(s.points())
    assert [r.obis for r in info.value.readings] == ["1.0.1.8.0.255"]
    (failure,) = info.value.failures
    assert isinstance(failure, ObjectUnavailable)
    assert failure.meter == "x" and failure.obis == "1.0.13.7.0.255"
    assert "exception 2" in str(failure)


async def test_nan_is_a_typed_failure_for_that_point_only(tcp_port: int) -> None:
    dev = device("sdm630", seed=9)
    dev.nan_obis.add("1.0.14.7.0.255")
    async with ModbusSimServer({1: dev}) as server:
        await server.serve_tcp("127.0.0.1", tcp_port)
        async with await session(f"modbus+tcp://127.0.0.1:{tcp_port}?unit=1&model=sdm630") as s:
            with pytest.raises(PartialRead) as info:
                await s.read(s.points())
    assert len(info.value.readings) == len(load_map("sdm630").registers) - 1
    (failure,) = info.value.failures
    assert isinstance(failure, ObjectUnavailable) and failure.obis == "1.0.14.7.0.255"
    assert not info.value.fatal


def rtu_session_url(pty_pair: PtyPair, unit: int = 2) -> str:
    return f"modbus+rtu://{pty_pair.slave_path}?baud=9600&unit={unit}&model=sdm120&timeout=5"


@pytest.mark.parametrize(
    ("fault", "error", "text"),
    [
        (Fault.BAD_CRC, MalformedFrame, "CRC"),
        (Fault.WRONG_UNIT, ProtocolError, "unit 3 answered"),
    ],
)
async def test_bad_replies_on_a_serial_line(
    fault: Fault, error: type, text: str, pty_pair: PtyPair
) -> None:
    dev = device("sdm120")
    async with ModbusSimServer({2: dev}) as server:
        server.faults[2] = fault
        await server.serve_pty(pty_pair.master_fd)
        async with await session(rtu_session_url(pty_pair)) as s:
            with pytest.raises(PartialRead) as info:
                await s.read([Point(obis="1.0.1.8.0.255")])
            # the typed error comes at once, not after the 5 s reply deadline
            assert server.wire[-1].response_end is not None
            (failure,) = info.value.failures
            assert isinstance(failure, error) and text in str(failure)
            assert failure.meter == "m1" and failure.obis == "1.0.1.8.0.255"
            # the bus stays usable: the next exchange with a healthy reply works
            del server.faults[2]
            (reading,) = await s.read([Point(obis="1.0.1.8.0.255")])
            assert reading.value == dev.value("1.0.1.8.0.255")


async def test_wrong_unit_over_modbus_tcp(tcp_port: int) -> None:
    async with ModbusSimServer({1: device("sdm120")}) as server:
        server.faults[1] = Fault.WRONG_UNIT
        await server.serve_tcp("127.0.0.1", tcp_port)
        url = f"modbus+tcp://127.0.0.1:{tcp_port}?unit=1&model=sdm120&timeout=5"
        async with await session(url) as s:
            with pytest.raises(PartialRead) as info:
                await s.read(s.points())
    assert all(isinstance(f, ProtocolError) for f in info.value.failures)


async def test_silent_unit_times_out(pty_pair: PtyPair) -> None:
    async with ModbusSimServer({}) as server:
        await server.serve_pty(pty_pair.master_fd)
        url = f"modbus+rtu://{pty_pair.slave_path}?unit=9&model=sdm120&timeout=0.2"
        async with await session(url) as s:
            with pytest.raises(PartialRead) as info:
                await s.read(s.points())
    assert info.value.fatal and info.value.readings == []
    assert all(isinstance(f, Timeout) for f in info.value.failures)
    assert len(info.value.failures) == len(load_map("sdm120").registers)
    assert len(server.wire) == 1  # no retry, no further blocks once the unit is silent


async def test_channel_down(tcp_port: int) -> None:
    from drivers.errors import ChannelDown

    url = f"modbus+tcp://127.0.0.1:{tcp_port}?unit=1&model=sdm120"
    async with await session(url) as s:
        with pytest.raises(PartialRead) as info:
            await s.read(s.points())
    assert info.value.fatal
    assert isinstance(info.value.failures[0], ChannelDown)


def test_serial_link_type() -> None:
    assert SerialLink(device="/dev/x").char_time_s == pytest.approx(10 / 9600)
