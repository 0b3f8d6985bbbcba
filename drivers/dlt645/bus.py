"""A DL/T 645 channel: one serial port or TCP endpoint shared by every meter session on it.

RS-485 is half-duplex and only the addressed meter answers, so a channel carries one request at a
time (`lock`). Sessions for different addresses on the same link share one `Dlt645Bus` (and one
open port) through `acquire_bus()`. The bus reopens its stream after the channel went down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from drivers.dlt645.decoder import FrameDecoder
from drivers.dlt645.frame import MAX_DATA_LEN, Frame
from drivers.errors import ChannelDown, MalformedFrame, Timeout
from drivers.transport.settings import SerialLink, TcpLink
from drivers.transport.stream import ByteStream, open_stream

Link = TcpLink | SerialLink


class Dlt645Bus:
    def __init__(self, link: Link, *, connect_timeout_s: float) -> None:
        self.link = link
        self.connect_timeout_s = connect_timeout_s
        self.lock = asyncio.Lock()
        self.users = 0
        self._stream: ByteStream | None = None
        self.loop = asyncio.get_running_loop()

    @property
    def name(self) -> str:
        return self.link.describe()

    async def open(self) -> ByteStream:
        if self._stream is None:
            self._stream = await open_stream(self.link, self.connect_timeout_s)
        return self._stream

    async def send(self, request: bytes) -> None:
        """Send a frame nobody answers (a broadcast)."""
        async with self.lock:
            stream = await self.open()
            try:
                await stream.write(request)
            except ChannelDown:
                await self._drop()
                raise

    async def transact(
        self,
        request: bytes,
        accept: Callable[[Frame], bool],
        deadline: float,
        *,
        meter: str | None = None,
        max_data: int = MAX_DATA_LEN,
    ) -> Frame:
        """Send `request`, return the first frame `accept` takes before `deadline` (loop time).

        Frames that are not ours (our own request echoed by a converter, a late reply to an
        earlier request) are skipped. Line noise is skipped too while the deadline lasts; if no
        acceptable frame arrives the noise is reported as `MalformedFrame` rather than `Timeout`.
        """
        async with self.lock:
            stream = await self.open()
            stream.discard_input()  # the tail of an earlier, timed-out reply
            decoder = FrameDecoder(max_data=max_data, meter=meter)
            noise: MalformedFrame | None = None
            try:
                await stream.write(request)
                while True:
                    try:
                        frame = await stream.receive(decoder, deadline)
                    except MalformedFrame as exc:
                        noise = exc
                        continue
                    if accept(frame):
                        return frame
            except Timeout as exc:
                if noise is not None:
                    raise noise from None
                raise exc.about(meter=meter) from None
            except ChannelDown as exc:
                await self._drop()
                raise exc.about(meter=meter) from None

    async def _drop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.close()

    async def close(self) -> None:
        await self._drop()


_BUSES: dict[Link, Dlt645Bus] = {}


async def acquire_bus(link: Link, *, connect_timeout_s: float) -> Dlt645Bus:
    """The shared bus for `link` in this event loop, opened; call `release_bus()` when done."""
    loop = asyncio.get_running_loop()
    bus = _BUSES.get(link)
    if bus is None or bus.loop is not loop or bus.loop.is_closed():
        bus = Dlt645Bus(link, connect_timeout_s=connect_timeout_s)
        _BUSES[link] = bus
    bus.users += 1
    try:
        async with bus.lock:
            await bus.open()
    except BaseException:
        await release_bus(bus)
        raise
    return bus


async def release_bus(bus: Dlt645Bus) -> None:
    bus.users -= 1
    if bus.users <= 0:
        if _BUSES.get(bus.link) is bus:
            del _BUSES[bus.link]
        await bus.close()
