"""pymodbus's own server as an independent Modbus peer, serving the manuals' register tables.

The datastore is pymodbus 3.16's `SimDevice` with separate blocks per table (coils, discrete
inputs, holding registers, input registers), so a read with the wrong function code, or of an
address the manual does not define, is refused with exception 02 exactly as a strict meter would.
Floats are encoded by pymodbus (`DataType.FLOAT32`, big-endian, high word first), not by us.

For RTU on a serial line, pymodbus's serial server opens one pty by path and our driver another;
`PtyCable` copies bytes between the two masters (a null-modem cable).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.transport.pty import PtyPair, open_pty

from .manuals import EXPORTING, MANUALS

IMPORTING_UNIT = 1
EXPORTING_UNIT = 2


def _device(unit: int, model: str, *, exporting: bool) -> SimDevice:
    function, rows, _ = MANUALS[model]
    override = EXPORTING[model] if exporting else None
    table = [
        SimData(
            address=address,
            values=override[1] if override and override[0] == address else raw,
            datatype=DataType.FLOAT32,
            readonly=True,
        )
        for address, raw, *_ in rows
    ]
    coils = [SimData(address=0, values=[False] * 16, datatype=DataType.BITS)]
    inputs = [SimData(address=0, values=[False] * 16, datatype=DataType.BITS)]
    # the other register table holds one unrelated register, far from the measurements
    other = [SimData(address=0xF000, values=1, datatype=DataType.UINT16)]
    holding, input_regs = (table, other) if function == 3 else (other, table)
    return SimDevice(id=unit, simdata=(coils, inputs, holding, input_regs))


def devices(model: str) -> list[SimDevice]:
    return [
        _device(IMPORTING_UNIT, model, exporting=False),
        _device(EXPORTING_UNIT, model, exporting=True),
    ]


@contextlib.asynccontextmanager
async def tcp_peer(model: str, port: int, *, rtu: bool = False) -> AsyncIterator[None]:
    server = ModbusTcpServer(
        devices(model),
        framer=FramerType.RTU if rtu else FramerType.SOCKET,
        address=("127.0.0.1", port),
    )
    await server.serve_forever(background=True)
    try:
        yield
    finally:
        await server.shutdown()


class PtyCable:
    """Two ptys joined master to master: each side opens its slave path as a serial port."""

    def __init__(self) -> None:
        self.a: PtyPair = open_pty()
        self.b: PtyPair = open_pty()
        loop = asyncio.get_running_loop()
        for src, dst in (
            (self.a.master_fd, self.b.master_fd),
            (self.b.master_fd, self.a.master_fd),
        ):
            os.set_blocking(src, False)
            loop.add_reader(src, self._copy, src, dst)

    @staticmethod
    def _copy(src: int, dst: int) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            data = os.read(src, 4096)
            if data:
                os.write(dst, data)

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        for pair in (self.a, self.b):
            loop.remove_reader(pair.master_fd)
            pair.close()


@contextlib.asynccontextmanager
async def serial_peer(model: str, *, baud: int = 9600) -> AsyncIterator[str]:
    """pymodbus's serial RTU server on one pty; yields the device path for our driver."""
    cable = PtyCable()
    server = ModbusSerialServer(
        devices(model), port=cable.a.slave_path, baudrate=baud, reconnect_delay=0.1
    )
    await server.serve_forever(background=True)
    try:
        yield cable.b.slave_path
    finally:
        await server.shutdown()
        cable.close()
