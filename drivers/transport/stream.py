"""An async byte stream over TCP or a serial port, read against absolute deadlines.

The deadline covers a whole reply (see DESIGN.md: not an idle timer), so a babbling or slow peer
cannot keep a session open. EOF is `ChannelDown` at once, never a retry loop.
"""

from __future__ import annotations

import asyncio
import termios
from typing import Protocol, TypeVar

from drivers.errors import ChannelDown, Timeout
from drivers.transport.settings import LinkSettings, SerialLink, TcpLink

T_co = TypeVar("T_co", covariant=True)

READ_CHUNK = 4096


class Framer(Protocol[T_co]):
    """A sans-IO incremental frame decoder."""

    def feed(self, data: bytes) -> None: ...

    def next_frame(self) -> T_co | None:
        """The next complete frame, or None if more bytes are needed; raises MalformedFrame."""
        ...


class ByteStream:
    """asyncio streams with deadline-based reads and typed errors."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.name = name
        self._closed = False

    async def write(self, data: bytes) -> None:
        if self._closed:
            raise ChannelDown(f"{self.name} is closed")
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise ChannelDown(f"{self.name}: write failed: {exc}") from exc

    async def read_some(self, deadline: float) -> bytes:
        """Some bytes (at least one) before `deadline` (loop time); Timeout or ChannelDown."""
        loop = asyncio.get_running_loop()
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise Timeout(f"{self.name}: no complete reply before the deadline")
        try:
            async with asyncio.timeout(remaining):
                data = await self._reader.read(READ_CHUNK)
        except TimeoutError:
            raise Timeout(f"{self.name}: no complete reply before the deadline") from None
        except (ConnectionError, OSError) as exc:
            raise ChannelDown(f"{self.name}: {exc}") from exc
        if not data:
            raise ChannelDown(f"{self.name}: connection closed by peer")
        return data

    async def receive(self, framer: Framer[T_co], deadline: float) -> T_co:
        """Read until `framer` yields a complete frame or the deadline passes."""
        while True:
            frame = framer.next_frame()
            if frame is not None:
                return frame
            framer.feed(await self.read_some(deadline))

    def discard_input(self) -> None:
        """Drop bytes already buffered (e.g. the tail of a timed-out reply on a bus)."""
        buffer = getattr(self._reader, "_buffer", None)
        if isinstance(buffer, bytearray):
            buffer.clear()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        try:
            async with asyncio.timeout(1.0):
                await self._writer.wait_closed()
        except (TimeoutError, ConnectionError, OSError):
            pass


async def open_stream(link: LinkSettings, timeout: float) -> ByteStream:
    """Open a TCP connection or a serial port; `ChannelDown`/`Timeout` name the endpoint."""
    name = link.describe()
    try:
        async with asyncio.timeout(timeout):
            if isinstance(link, TcpLink):
                reader, writer = await asyncio.open_connection(link.host, link.port)
            else:
                reader, writer = await _open_serial(link)
    except TimeoutError:
        raise Timeout(f"{name}: connect timed out after {timeout:g} s") from None
    except (ConnectionError, OSError) as exc:
        raise ChannelDown(f"{name}: cannot connect: {exc.strerror or exc}") from exc
    except termios.error as exc:
        # A port that refuses the line settings (e.g. a pty asked for even parity).
        raise ChannelDown(f"{name}: cannot configure the port: {exc}") from exc
    except ValueError as exc:
        raise ChannelDown(f"{name}: cannot open the port: {exc}") from exc
    return ByteStream(reader, writer, name)


async def _open_serial(link: SerialLink) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    import serial_asyncio_fast

    reader, writer = await serial_asyncio_fast.open_serial_connection(
        url=link.device,
        baudrate=link.baud,
        bytesize=link.bytesize,
        parity=link.parity,
        stopbits=link.stopbits,
    )
    return reader, writer
