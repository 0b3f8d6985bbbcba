"""The wrapper's client links: `WrapperLink` over any `ByteStream`, and `WrapperTcpLink`, which
the session uses for TCP.

`WrapperTcpLink` is an asyncio `Protocol` that decodes frames as bytes arrive and hands the reply
to the waiting request through one future, with one timer for the whole-reply deadline; it has
the same contract and errors as `WrapperLink`, at about a third of the CPU per request of a
StreamReader with an `asyncio.timeout` around every read.
"""

from __future__ import annotations

import asyncio

from drivers.dlms.wrapper.codec import HEADER_SIZE, WrapperDecoder, WrapperFrame, encode_wrapper
from drivers.errors import ChannelDown, DriverError, MalformedFrame, ProtocolError, Timeout
from drivers.transport.settings import TcpLink
from drivers.transport.stream import ByteStream


class WrapperLink:
    """Client `ApduLink` over a TCP byte stream."""

    def __init__(self, stream: ByteStream, client: int, server: int, max_apdu: int = 0xFFFF):
        self._stream = stream
        self._client = client
        self._server = server
        self._decoder = WrapperDecoder(max_apdu)

    async def open(self, deadline: float) -> None:
        return None

    async def exchange(self, apdu: bytes, deadline: float) -> bytes:
        await self._stream.write(encode_wrapper(WrapperFrame(self._client, self._server, apdu)))
        frame = await self._stream.receive(self._decoder, deadline)
        return _check_reply(frame, self._client, self._server)

    async def close(self) -> None:
        await self._stream.close()


def _check_reply(frame: WrapperFrame, client: int, server: int) -> bytes:
    if frame.source != server or frame.destination != client:
        raise ProtocolError(
            f"reply from wPort {frame.source} to {frame.destination}, expected {server} to {client}"
        )
    return frame.apdu


class _WrapperProtocol(asyncio.Protocol):
    """Bytes in -> frames to the one waiting request. Errors are sticky: after a malformed
    frame or the end of the connection every later request fails at once."""

    def __init__(self, name: str, max_apdu: int) -> None:
        self.name = name
        self.decoder = WrapperDecoder(max_apdu)
        # a peer that sends while nobody waits is not buffered without bound
        self.read_limit = 2 * (HEADER_SIZE + max_apdu)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[WrapperFrame] | None = None
        self.error: DriverError | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.paused_reading = False
        self.can_write: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.error is not None:
            return
        self.decoder.feed(data)
        waiter = self.waiter
        if waiter is None or waiter.done():
            if self.decoder.pending > self.read_limit and self.transport is not None:
                self.transport.pause_reading()
                self.paused_reading = True
            return
        try:
            frame = self.decoder.next_frame()
        except MalformedFrame as err:
            self.fail(err)
            return
        if frame is not None:
            waiter.set_result(frame)

    def eof_received(self) -> bool:
        self.fail(ChannelDown(f"{self.name}: connection closed by peer"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is None:
            self.fail(ChannelDown(f"{self.name}: connection closed by peer"))
        else:
            self.fail(ChannelDown(f"{self.name}: {exc}"))
        if not self.lost.done():
            self.lost.set_result(None)
        if self.can_write is not None and not self.can_write.done():
            self.can_write.set_result(None)

    def pause_writing(self) -> None:
        self.can_write = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.can_write is not None and not self.can_write.done():
            self.can_write.set_result(None)
        self.can_write = None

    def fail(self, err: DriverError) -> None:
        if self.error is None:
            self.error = err
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(err)

    def timed_out(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            late = Timeout(f"{self.name}: no complete reply before the deadline")
            self.waiter.set_exception(late)


class WrapperTcpLink:
    """Client `ApduLink`: the wrapper over TCP on an asyncio Protocol. Open it with `connect`."""

    def __init__(self, protocol: _WrapperProtocol, client: int, server: int) -> None:
        self._protocol = protocol
        self._client = client
        self._server = server
        self._closed = False

    @classmethod
    async def connect(
        cls, link: TcpLink, timeout: float, client: int, server: int, max_apdu: int = 0xFFFF
    ) -> WrapperTcpLink:
        """Connect; `ChannelDown`/`Timeout` name the endpoint (as `open_stream` does)."""
        name = link.describe()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _transport, protocol = await loop.create_connection(
                    lambda: _WrapperProtocol(name, max_apdu), link.host, link.port
                )
        except TimeoutError:
            raise Timeout(f"{name}: connect timed out after {timeout:g} s") from None
        except (ConnectionError, OSError) as exc:
            raise ChannelDown(f"{name}: cannot connect: {exc.strerror or exc}") from exc
        return cls(protocol, client, server)

    async def open(self, deadline: float) -> None:
        return None

    async def exchange(self, apdu: bytes, deadline: float) -> bytes:
        protocol = self._protocol
        transport = protocol.transport
        if self._closed or transport is None:
            raise ChannelDown(f"{protocol.name} is closed")
        if protocol.error is not None:
            raise protocol.error
        if protocol.can_write is not None:
            await protocol.can_write
            if protocol.error is not None:
                raise protocol.error
        transport.write(encode_wrapper(WrapperFrame(self._client, self._server, apdu)))
        # a frame that arrived before we asked is the reply (as with a stream reader)
        frame = protocol.decoder.next_frame()
        if frame is not None:
            return _check_reply(frame, self._client, self._server)
        loop = asyncio.get_running_loop()
        if deadline <= loop.time():
            raise Timeout(f"{protocol.name}: no complete reply before the deadline")
        waiter: asyncio.Future[WrapperFrame] = loop.create_future()
        protocol.waiter = waiter
        if protocol.paused_reading:
            protocol.paused_reading = False
            transport.resume_reading()
        timer = loop.call_at(deadline, protocol.timed_out)
        try:
            frame = await waiter
        finally:
            timer.cancel()
            protocol.waiter = None
        return _check_reply(frame, self._client, self._server)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        protocol = self._protocol
        if protocol.transport is not None:
            protocol.transport.close()
        try:
            async with asyncio.timeout(1.0):
                await asyncio.shield(protocol.lost)
        except TimeoutError:
            if protocol.transport is not None:
                protocol.transport.abort()
