"""Every shipped map against the simulator over TCP, RTU-over-TCP and a pty: each quantity reads
back with the value the simulated meter holds, in head-end units."""

from __future__ import annotations

from decimal import Decimal

import pytest

from drivers.modbus import known_models, load_map, map_points
from drivers.sim.modbus import ModbusSimServer
from drivers.transport.pty import PtyPair

from .helpers import device, session

MODELS = ["dtsu666", "sdm120", "sdm630"]


def test_shipped_models() -> None:
    assert set(MODELS) <= set(known_models())


def expected(dev, obis: str) -> Decimal:
    value = dev.value(obis)
    assert isinstance(value, Decimal), obis
    return value


def check(dev, model: str, readings) -> None:
    register_map = load_map(model)
    assert [r.obis for r in readings] == [e.obis for e in register_map.registers]
    for reading in readings:
        entry = register_map.entry(reading.obis)
        assert entry is not None
        assert reading.unit == entry.unit
        assert reading.value == expected(dev, reading.obis), reading.obis
    units = {r.obis: r.unit for r in readings}
    assert units["1.0.1.8.0.255"] == "Wh"
    assert units["1.0.32.7.0.255"] == "V"
    # the simulated household imports in the evening: the energy register is a large Wh count
    energy = next(r.value for r in readings if r.obis == "1.0.1.8.0.255")
    assert isinstance(energy, Decimal) and energy > 1_000_000


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("rtu", [False, True], ids=["tcp", "rtutcp"])
async def test_map_over_tcp(model: str, rtu: bool, tcp_port: int) -> None:
    dev = device(model, seed=7)
    async with ModbusSimServer({5: dev}) as server:
        await server.serve_tcp("127.0.0.1", tcp_port, rtu=rtu)
        scheme = "modbus+rtutcp" if rtu else "modbus+tcp"
        async with await session(f"{scheme}://127.0.0.1:{tcp_port}?unit=5&model={model}") as s:
            readings = await s.read(map_points(model))
    check(dev, model, readings)


@pytest.mark.parametrize("model", MODELS)
async def test_map_over_pty(model: str, pty_pair: PtyPair) -> None:
    dev = device(model, seed=11)
    async with ModbusSimServer({3: dev}) as server:
        await server.serve_pty(pty_pair.master_fd)
        url = f"modbus+rtu://{pty_pair.slave_path}?baud=9600&unit=3&model={model}"
        async with await session(url) as s:
            readings = await s.read(s.points())
    check(dev, model, readings)
    # coalescing: the whole map in as few requests as its limits allow
    assert len(server.wire) == len({(e.function, e.start) for e in _plan(model)})


def _plan(model: str):
    from drivers.modbus.plan import plan_reads

    m = load_map(model)
    return plan_reads(m.registers, m.max_registers_per_request, m.max_gap)


async def test_subset_and_unmapped_point(tcp_port: int) -> None:
    from drivers.contract import PartialRead, Point
    from drivers.errors import Unsupported

    dev = device("sdm120", seed=2)
    async with ModbusSimServer({1: dev}) as server:
        await server.serve_tcp("127.0.0.1", tcp_port)
        async with await session(f"modbus+tcp://127.0.0.1:{tcp_port}?unit=1&model=sdm120") as s:
            with pytest.raises(PartialRead) as info:
                await s.read([Point(obis="1.0.1.8.0.255"), Point(obis="1.0.72.7.0.255")])
    assert [r.obis for r in info.value.readings] == ["1.0.1.8.0.255"]
    assert not info.value.fatal
    (failure,) = info.value.failures
    assert isinstance(failure, Unsupported) and failure.obis == "1.0.72.7.0.255"
    assert failure.meter == "m1"
