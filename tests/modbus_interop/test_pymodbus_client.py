"""A third-party CLIENT reads OUR simulator: pymodbus's own async clients fetch raw registers at
the addresses of the makers' manuals (`manuals.py`, not our maps), decode them with pymodbus's
float32 conversion and the manuals' scales, and compare with what the simulated meter holds.
This checks the simulator (and through it the maps it serves) against the manuals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.framer import FramerType

from drivers.sim.modbus import ModbusSimServer, SimModbusDevice
from drivers.transport.pty import PtyPair
from tests.modbus.helpers import device

from .manuals import MANUALS

MODELS = ["dtsu666", "sdm630", "sdm120"]
UNIT = 4
# signed total registers: the simulator holds import and export (or Q+ and Q-) separately
SIGNED = {"1.0.1.7.0.255": "1.0.2.7.0.255", "1.0.3.7.0.255": "1.0.4.7.0.255"}
FLOAT32 = AsyncModbusTcpClient.DATATYPE.FLOAT32


def truth(dev: SimModbusDevice, obis: str) -> Decimal:
    value = dev.value(obis)
    assert value is not None, obis
    if obis in SIGNED:
        negative = dev.value(SIGNED[obis])
        assert negative is not None
        value -= negative
    return value


def _shortest(value: float) -> Decimal:
    """The decimal the meter meant (float32 carries ~7 significant digits)."""
    for digits in range(6, 10):
        text = f"{value:.{digits}g}"
        if AsyncModbusTcpClient.convert_to_registers(
            float(text), FLOAT32
        ) == AsyncModbusTcpClient.convert_to_registers(value, FLOAT32):
            return Decimal(text)
    return Decimal(repr(value))


async def check_simulator(client: Any, model: str, dev: SimModbusDevice) -> int:
    function, rows, _ = MANUALS[model]
    read = client.read_holding_registers if function == 3 else client.read_input_registers
    checked = 0
    for address, raw, obis, value, _unit in rows:
        if obis is None or value is None:
            continue
        scale = value / Decimal(repr(raw))  # the manual's scale, from the table's own example
        reply = await read(address, count=2, device_id=UNIT)
        assert not reply.isError(), (model, hex(address), reply)
        number = client.convert_from_registers(reply.registers, data_type=FLOAT32)
        assert isinstance(number, float)
        got = _shortest(number) * scale
        assert got == truth(dev, obis), (model, hex(address), obis, got, truth(dev, obis))
        checked += 1
    # the other function code does not reach the measurements
    other = client.read_input_registers if function == 3 else client.read_holding_registers
    reply = await other(rows[0][0], count=2, device_id=UNIT)
    assert reply.isError() and reply.exception_code == 2
    return checked


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("rtu", [False, True], ids=["tcp", "rtutcp"])
async def test_pymodbus_tcp_client_reads_simulator(model: str, rtu: bool, tcp_port: int) -> None:
    dev = device(model, seed=5)
    async with ModbusSimServer({UNIT: dev}) as server:
        await server.serve_tcp("127.0.0.1", tcp_port, rtu=rtu)
        client = AsyncModbusTcpClient(
            "127.0.0.1",
            port=tcp_port,
            framer=FramerType.RTU if rtu else FramerType.SOCKET,
            timeout=2,
            retries=0,
        )
        await client.connect()
        try:
            checked = await check_simulator(client, model, dev)
        finally:
            client.close()
    assert checked == len({o for _, _, o, v, _ in MANUALS[model][1] if o and v is not None})


@pytest.mark.parametrize("model", MODELS)
async def test_pymodbus_serial_client_reads_simulator(model: str, pty_pair: PtyPair) -> None:
    dev = device(model, seed=9)
    async with ModbusSimServer({UNIT: dev}) as server:
        await server.serve_pty(pty_pair.master_fd)
        client = AsyncModbusSerialClient(
            pty_pair.slave_path, framer=FramerType.RTU, baudrate=9600, timeout=2, retries=0
        )
        await client.connect()
        try:
            assert await check_simulator(client, model, dev) > 0
        finally:
            client.close()


def test_simulated_quantities_are_consistent() -> None:
    """Physics gives V, A, W; the rest follows: PF 0.95 lagging, Q = P·tan φ, S = P / PF,
    L-L = √3 × L-N for balanced phases, single-phase V·I = P."""
    three = device("dtsu666", seed=3)
    p = truth(three, "1.0.1.7.0.255")
    assert p > 0
    q, s = truth(three, "1.0.3.7.0.255"), three.value("1.0.9.7.0.255")
    assert s is not None and abs(float(p) ** 2 + float(q) ** 2 - float(s) ** 2) < 2 * float(s)
    assert three.value("1.0.13.7.0.255") == Decimal("0.95")
    assert abs(float(q) / float(p) - 0.3287) < 0.01
    ua, uab = three.value("1.0.32.7.0.255"), three.value("1.0.124.7.0.255")
    assert ua is not None and uab is not None and abs(float(uab) / float(ua) - 3**0.5) < 0.02
    single = device("sdm120", seed=3)
    v, i = single.value("1.0.32.7.0.255"), single.value("1.0.31.7.0.255")
    assert v is not None and i is not None
    assert abs(float(v * i) - float(truth(single, "1.0.1.7.0.255"))) < 5
