"""IEC 62056-47 wrapper framing for DLMS over TCP: sans-IO codec, client link and server loop.

Header: version (0x0001), source wPort, destination wPort, APDU length; all 16-bit big endian.
A length above the negotiated maximum is a malformed frame at once, not a reason to wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass

from drivers.dlms.link import ApduHandler, DisconnectHandler, ServerAddress
from drivers.errors import MalformedFrame, ProtocolError
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
        if frame.source != self._server or frame.destination != self._client:
            raise ProtocolError(
                f"reply from wPort {frame.source} to {frame.destination}, "
                f"expected {self._server} to {self._client}"
            )
        return frame.apdu

    async def close(self) -> None:
        await self._stream.close()


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
