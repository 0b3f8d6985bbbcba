"""IEC 62056-47 wrapper framing for DLMS over TCP: sans-IO codec, client link and server loop.

Header: version (0x0001), source wPort, destination wPort, APDU length; all 16-bit big endian.
A length above the negotiated maximum is a malformed frame at once, not a reason to wait.

Two client links: `WrapperLink` over any `ByteStream`, and `WrapperTcpLink`, which the session
uses for TCP. The latter is an asyncio `Protocol` that decodes frames as bytes arrive and hands
the reply to the waiting request through one future, with one timer for the whole-reply
deadline; it has the same contract and errors, at about a third of the CPU per request of a
StreamReader with an `asyncio.timeout` around every read.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from drivers.dlms.link import ApduHandler, DisconnectHandler, ServerAddress
from drivers.errors import ChannelDown, DriverError, MalformedFrame, ProtocolError, Timeout
from drivers.transport.settings import TcpLink
from drivers.transport.stream import ByteStream

WRAPPER_VERSION = 1
HEADER = struct.Struct(">HHHH")
HEADER_SIZE = HEADER.size


@dataclass(frozen=True, slots=True)
class WrapperFrame:
    source: int
    destination: int
    apdu: bytes


def encode_wrapper(frame: WrapperFrame) -> bytes:
    if len(frame.apdu) > 0xFFFF:
        raise ValueError(f"APDU of {len(frame.apdu)} bytes does not fit a wrapper frame")
    return (
        HEADER.pack(WRAPPER_VERSION, frame.source, frame.destination, len(frame.apdu)) + frame.apdu
    )


class WrapperDecoder:
    """Incremental decoder; `next_frame` returns None until a whole frame is buffered."""

    def __init__(self, max_apdu: int = 0xFFFF) -> None:
        self.max_apdu = max_apdu
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_frame(self) -> WrapperFrame | None:
        if len(self._buffer) < HEADER_SIZE:
            if len(self._buffer) >= 2 and self._buffer[0:2] != b"\x00\x01":
                raise MalformedFrame(f"wrapper version {self._buffer[0:2].hex()} is not 0001")
            return None
        version, source, destination, length = HEADER.unpack_from(self._buffer)
        if version != WRAPPER_VERSION:
            raise MalformedFrame(f"wrapper version {version} is not {WRAPPER_VERSION}")
        if length > self.max_apdu:
            raise MalformedFrame(f"wrapper length {length} exceeds the maximum {self.max_apdu}")
        if len(self._buffer) < HEADER_SIZE + length:
            return None
        apdu = bytes(self._buffer[HEADER_SIZE : HEADER_SIZE + length])
        del self._buffer[: HEADER_SIZE + length]
        return WrapperFrame(source, destination, apdu)

    @property
    def pending(self) -> int:
        return len(self._buffer)


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


def _no_reply(_address: ServerAddress, _apdu: bytes) -> None:
    return None


class WrapperServerProtocol(asyncio.Protocol):
    """Server side of one TCP connection as an asyncio Protocol (what the simulator uses).

    Each request frame goes to `handler`, its reply goes back after `delay_s` (a meter's
    processing time plus the modem's round trip), scheduled on the event loop and kept in
    order; 0 answers at once. A malformed frame closes the connection, as a meter would.
    `on_closed` is told when the connection is gone (for the owner's bookkeeping).
    """

    def __init__(
        self,
        handler: ApduHandler,
        on_disconnect: DisconnectHandler | None = None,
        *,
        max_apdu: int = 0xFFFF,
        delay_s: float = 0.0,
        on_closed: Callable[[WrapperServerProtocol], None] | None = None,
    ) -> None:
        self.handler = handler
        self.on_disconnect = on_disconnect
        self.delay_s = delay_s
        self.on_closed = on_closed
        self.transport: asyncio.Transport | None = None
        self._decoder = WrapperDecoder(max_apdu)
        self._seen: set[ServerAddress] = set()
        self._due: deque[tuple[float, bytes]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        decoder = self._decoder
        decoder.feed(data)
        try:
            while (frame := decoder.next_frame()) is not None:
                address = ServerAddress(client=frame.source, logical=frame.destination)
                self._seen.add(address)
                reply = self.handler(address, frame.apdu)
                if reply is not None and self.transport is not None and not self._closing:
                    if self.transport.is_closing():
                        return
                    self._send(encode_wrapper(WrapperFrame(frame.destination, frame.source, reply)))
        except MalformedFrame:
            self.close()

    def _send(self, data: bytes) -> None:
        assert self.transport is not None
        if self.delay_s <= 0 and not self._due:
            self.transport.write(data)
            return
        loop = asyncio.get_running_loop()
        self._due.append((loop.time() + self.delay_s, data))
        if self._timer is None:
            self._timer = loop.call_at(self._due[0][0], self._flush)

    def _flush(self) -> None:
        self._timer = None
        transport = self.transport
        if transport is None or transport.is_closing():
            self._due.clear()
            return
        now = asyncio.get_running_loop().time()
        while self._due and self._due[0][0] <= now:
            transport.write(self._due.popleft()[1])
        if self._due:
            self._timer = asyncio.get_running_loop().call_at(self._due[0][0], self._flush)
        elif self._closing:
            transport.close()

    def pause_writing(self) -> None:
        # a client that does not read its replies gets no more of them: stop reading requests
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def close(self, *, abort: bool = False) -> None:
        """Close after the replies already given (or at once with `abort`), as a meter that
        hangs up; the requests that arrive meanwhile are not answered."""
        self.handler = _no_reply
        if self.transport is None:
            return
        if abort:
            self.transport.abort()
        elif not self._due:
            self.transport.close()
        else:
            self._closing = True

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due.clear()
        if self.on_disconnect is not None:
            for address in self._seen:
                self.on_disconnect(address)
        if self.on_closed is not None:
            self.on_closed(self)


async def serve_wrapper(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    handler: ApduHandler,
    on_disconnect: DisconnectHandler | None = None,
    max_apdu: int = 0xFFFF,
) -> None:
    """Serve one TCP connection: each request frame goes to `handler`, its reply goes back.

    A malformed frame closes the connection, as a meter would.
    """
    decoder = WrapperDecoder(max_apdu)
    seen: set[ServerAddress] = set()
    try:
        while True:
            data = await reader.read(4096)
            if not data:
                break
            decoder.feed(data)
            while (frame := decoder.next_frame()) is not None:
                address = ServerAddress(client=frame.source, logical=frame.destination)
                seen.add(address)
                reply = handler(address, frame.apdu)
                if reply is not None:
                    writer.write(
                        encode_wrapper(WrapperFrame(frame.destination, frame.source, reply))
                    )
            await writer.drain()
    except (MalformedFrame, ConnectionError, OSError):
        pass
    finally:
        if on_disconnect is not None:
            for address in seen:
                on_disconnect(address)
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
