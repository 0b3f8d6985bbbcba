"""Test peers on real loopback sockets: a logging HDLC proxy in front of a simulated concentrator,
and a dead concentrator that accepts connections and closes them at once (counting them).

The proxy is the "wire log" of the must-show tests: it sees every HDLC frame each way, with the
time it passed, so tests check the half-duplex discipline on the wire itself rather than trusting
the client's own bookkeeping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Frame:
    at: float  # loop time the frame passed the proxy
    connection: int
    direction: str  # "C" client -> concentrator (request), "S" concentrator -> client (reply)
    data: bytes

    @property
    def physical(self) -> int | None:
        """The server physical address of a client frame (2- or 4-byte HDLC address)."""
        if self.direction != "C" or len(self.data) < 6:
            return None
        addr = bytearray()
        for byte in self.data[3:7]:
            addr.append(byte)
            if byte & 1:  # the last byte of an address has its low bit set
                break
        if len(addr) == 2:
            return addr[1] >> 1
        if len(addr) == 4:
            return ((addr[2] >> 1) << 7) | (addr[3] >> 1)
        return None


def split_frames(buffer: bytearray) -> list[bytes]:
    """Complete HDLC frames at the head of `buffer` (delimited by the frame-format length)."""
    frames = []
    while True:
        while buffer and buffer[0] != 0x7E:
            del buffer[0]
        if len(buffer) < 3:
            return frames
        if buffer[1] == 0x7E:  # a shared or doubled flag
            del buffer[0]
            continue
        length = ((buffer[1] & 0x07) << 8) | buffer[2]
        if len(buffer) < length + 2:
            return frames
        frames.append(bytes(buffer[: length + 2]))
        del buffer[: length + 2]


@dataclass
class Concurrency:
    """Connections open at once, across every proxy sharing this instance."""

    now: int = 0
    peak: int = 0

    def opened(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)

    def closed(self) -> None:
        self.now -= 1


@dataclass
class HdlcProxy:
    target_port: int
    host: str = "127.0.0.1"
    frames: list[Frame] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    concurrency: Concurrency = field(default_factory=Concurrency)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        connection: int,
        direction: str,
    ) -> None:
        loop = asyncio.get_running_loop()
        buffer = bytearray()
        try:
            while data := await reader.read(4096):
                buffer += data
                for frame in split_frames(buffer):
                    self.frames.append(Frame(loop.time(), connection, direction, frame))
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self.concurrency.opened()
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
            await asyncio.gather(
                self._pipe(reader, up_writer, number, "C"),
                self._pipe(up_reader, writer, number, "S"),
            )
        finally:
            self.concurrency.closed()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[HdlcProxy]:
        server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = server.sockets[0].getsockname()[1]
        async with server:
            yield self
            server.close()


@contextlib.asynccontextmanager
async def dead_concentrator(host: str = "127.0.0.1") -> AsyncIterator[tuple[int, list[float]]]:
    """A port that accepts and at once closes every connection; yields (port, accept times)."""
    accepted: list[float] = []

    async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(asyncio.get_running_loop().time())
        writer.close()

    server = await asyncio.start_server(handle, host, 0)
    async with server:
        yield server.sockets[0].getsockname()[1], accepted
        server.close()
