"""The wrapper's server side (simulators): `WrapperServerProtocol`, one TCP connection as an
asyncio Protocol with an optional reply delay, and `serve_wrapper` on asyncio streams.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

from drivers.dlms.link import ApduHandler, DisconnectHandler, ServerAddress
from drivers.dlms.wrapper.codec import WrapperDecoder, WrapperFrame, encode_wrapper
from drivers.errors import MalformedFrame


def _no_reply(_address: ServerAddress, _apdu: bytes) -> None:
    return None


def _handle(frame: WrapperFrame, handler: ApduHandler, seen: set[ServerAddress]) -> bytes | None:
    """The handler's reply APDU to one request frame; `seen` collects the addresses asked, to
    tell `on_disconnect` about each when the connection ends."""
    address = ServerAddress(client=frame.source, logical=frame.destination)
    seen.add(address)
    return handler(address, frame.apdu)


def _reply_frame(request: WrapperFrame, reply: bytes) -> bytes:
    # a reply goes back between the request's wPorts, the other way round
    return encode_wrapper(WrapperFrame(request.destination, request.source, reply))


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
                reply = _handle(frame, self.handler, self._seen)
                if reply is not None and self.transport is not None and not self._closing:
                    if self.transport.is_closing():
                        return
                    self._send(_reply_frame(frame, reply))
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
                reply = _handle(frame, handler, seen)
                if reply is not None:
                    writer.write(_reply_frame(frame, reply))
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
