"""The simulated Modbus bus: serves `SimModbusDevice`s by unit id over a pty or TCP.

Why not pymodbus's server: the tests and the bench need things it does not offer — serving the
master side of a pty (pymodbus opens serial ports by name), pacing replies to a real baud rate,
a wire log with the instant each request started and each reply ended, and injected faults (bad
CRC, reply from the wrong unit, silence). So this is a small server of our own: sans-IO request
framers from `drivers.modbus.wire`, PDU handling in `device.py`, asyncio streams here.

Pacing (`baud` given): a request of n bytes occupies the line for n character times from its
first byte; the unit answers after the 3.5-character silence that ends the request, and its reply
of m bytes is delivered when its last character would have arrived (m character times later).
That instant is one absolute deadline per exchange, waited with
`drivers.transport.timing.sleep_until`
(never early, and punctual to a fraction of a millisecond, where `asyncio.sleep` rounds up to
whole milliseconds and cost ~1 ms per exchange on the paced bench).
One lock serialises all connections, as one RS-485 line behind a gateway would.

`response_delay_s` holds each reply back that long after the request (a meter's processing
time, or a slow gateway); the bus stays busy meanwhile, as a real half-duplex line is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass
from enum import StrEnum

from drivers.modbus.wire import (
    MbapRequestFramer,
    Request,
    RtuRequestFramer,
    crc16,
    mbap_frame,
    rtu_frame,
)
from drivers.sim.modbus.device import SimModbusDevice
from drivers.transport.pty import fd_streams
from drivers.transport.timing import sleep_until


class Fault(StrEnum):
    SILENT = "silent"  # the unit never answers (a dead meter)
    BAD_CRC = "bad-crc"  # the reply's CRC is wrong (RTU framings)
    WRONG_UNIT = "wrong-unit"  # another unit id answers


@dataclass(frozen=True, slots=True)
class WireEvent:
    """One request seen on the line, with loop-time instants (response fields None: silence)."""

    unit: int
    function: int
    request_start: float
    request_end: float
    response_start: float | None
    response_end: float | None
    request_bytes: int
    response_bytes: int

    @property
    def busy_until(self) -> float:
        return self.response_end if self.response_end is not None else self.request_end


_Framer = RtuRequestFramer | MbapRequestFramer


class ModbusSimServer:
    def __init__(
        self,
        devices: dict[int, SimModbusDevice],
        *,
        baud: int | None = None,
        bits: int = 10,
        response_delay_s: float = 0.0,
    ) -> None:
        if response_delay_s < 0:
            raise ValueError("response_delay_s must be >= 0")
        self.devices = devices
        self.response_delay_s = response_delay_s
        self.faults: dict[int, Fault] = {}
        self.char_s = bits / baud if baud else 0.0
        self.wire: list[WireEvent] = []
        self.crc_errors = 0
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._servers: list[asyncio.Server] = []
        self._writers: list[asyncio.StreamWriter] = []

    # -- serving -------------------------------------------------------------------------------

    async def serve_pty(self, master_fd: int) -> None:
        """Serve RTU on the master side of a pty (the driver opens the slave as a serial port)."""
        reader, writer = await fd_streams(master_fd)
        self._writers.append(writer)
        self._spawn(self._serve(reader, writer, RtuRequestFramer()))

    async def serve_tcp(self, host: str, port: int, *, rtu: bool = False) -> int:
        """Serve Modbus TCP (MBAP) or, with `rtu`, RTU frames over TCP (a serial gateway).

        Returns the port bound (useful with `port=0`: a free one).
        """

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.append(writer)
            framer: _Framer = RtuRequestFramer() if rtu else MbapRequestFramer()
            await self._serve(reader, writer, framer)

        server = await asyncio.start_server(on_connect, host, port)
        self._servers.append(server)
        bound: int = server.sockets[0].getsockname()[1]
        return bound

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        for writer in self._writers:
            writer.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await server.wait_closed()

    async def __aenter__(self) -> ModbusSimServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- one stream ----------------------------------------------------------------------------

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, framer: _Framer
    ) -> None:
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def read_loop() -> None:
            # Timestamps are taken on arrival, not when the answering side gets round to them,
            # so a request sent while a reply is still "on the line" shows up as an overlap.
            try:
                while data := await reader.read(4096):
                    chunks.put_nowait((loop.time(), data))
            except (ConnectionError, OSError):
                pass
            chunks.put_nowait(None)

        reading = asyncio.ensure_future(read_loop())
        try:
            first: float | None = None
            while (item := await chunks.get()) is not None:
                arrived, data = item
                if framer.pending() == 0:
                    first = arrived
                framer.feed(data)
                while True:
                    try:
                        request = framer.next_frame()
                    except ValueError:
                        return  # a broken MBAP header: a real server drops the connection
                    if request is None:
                        break
                    await self._answer(request, first if first is not None else arrived, writer)
                    first = arrived if framer.pending() else None
                if isinstance(framer, RtuRequestFramer):
                    self.crc_errors = max(self.crc_errors, framer.crc_errors)
        finally:
            reading.cancel()
            with contextlib.suppress(BaseException):
                await reading

    async def _answer(self, request: Request, start: float, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        rtu = request.tid is None
        request_bytes = (3 if rtu else 7) + len(request.pdu)
        async with self._lock:
            request_end = start + request_bytes * self.char_s
            device = self.devices.get(request.unit)
            fault = self.faults.get(request.unit)
            function = request.pdu[0] if request.pdu else 0
            if device is None or fault is Fault.SILENT or request.unit == 0:
                if device is not None and request.unit == 0:
                    device.handle(request.pdu)
                self.wire.append(
                    WireEvent(
                        request.unit, function, start, request_end, None, None, request_bytes, 0
                    )
                )
                return
            reply_pdu = device.handle(request.pdu)
            unit = request.unit % 247 + 1 if fault is Fault.WRONG_UNIT else request.unit
            if rtu:
                frame = rtu_frame(unit, reply_pdu)
                if fault is Fault.BAD_CRC:
                    frame = frame[:-2] + (crc16(frame[:-2]) ^ 0x5A5A).to_bytes(2, "little")
            else:
                frame = mbap_frame(request.tid or 0, unit, reply_pdu)
            if self.char_s or self.response_delay_s:
                await sleep_until(
                    request_end + (3.5 + len(frame)) * self.char_s + self.response_delay_s
                )
            try:
                writer.write(frame)
                await writer.drain()
            except (ConnectionError, OSError):
                return
            end = loop.time()
            self.wire.append(
                WireEvent(
                    request.unit,
                    function,
                    start,
                    request_end,
                    end - len(frame) * self.char_s,
                    end,
                    request_bytes,
                    len(frame),
                )
            )
