"""HDLC over a byte stream in asyncio: the client `ApduLink` and the server loop for one line.

`HdlcLink` is what a DLMS session uses over a serial port or a TCP transparent channel;
`serve_hdlc` is what a simulator or concentrator runs for one TCP connection or pty line.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from drivers.dlms.hdlc.address import HdlcAddress
from drivers.dlms.hdlc.client import ClientState, ClientStep, HdlcClient
from drivers.dlms.hdlc.decoder import HdlcFrameDecoder
from drivers.dlms.hdlc.server import HdlcServer
from drivers.dlms.link import ApduHandler, DisconnectHandler, ServerAddress
from drivers.errors import DriverError, MalformedFrame, ProtocolError
from drivers.transport.stream import ByteStream

DISCONNECT_TIMEOUT_S = 1.0
READ_CHUNK = 4096


class HdlcLink:
    """Client `ApduLink`: open = SNRM/UA, exchange = I-frames (segmented), close = DISC."""

    def __init__(
        self,
        stream: ByteStream,
        *,
        client_address: int,
        server_logical: int,
        server_physical: int | None,
        max_info: int = 128,
        window: int = 1,
    ) -> None:
        self._stream = stream
        server = HdlcAddress(server_logical, server_physical)
        self._client = HdlcClient(client_address, server, max_info=max_info, window=window)
        self._decoder = HdlcFrameDecoder(max_info)
        self._was_up = False  # a meter that never answered SNRM holds no link to take down

    @property
    def state(self) -> ClientState:
        return self._client.state

    async def open(self, deadline: float) -> None:
        self._stream.discard_input()
        self._decoder.clear()
        self._decoder.max_info_length = self._client.proposal.max_info_rx
        await self._stream.write(self._client.connect())
        await self._run(deadline)
        self._was_up = True
        self._decoder.max_info_length = self._client.rx_max_info

    async def exchange(self, apdu: bytes, deadline: float) -> bytes:
        await self._stream.write(self._client.send_apdu(apdu))
        step = await self._run(deadline)
        if step.apdu is None:
            raise ProtocolError("HDLC exchange ended without a reply APDU")
        return step.apdu

    async def close(self) -> None:
        """DISC (if the link ever came up), then close the stream. Never raises.

        A link broken by an error still gets DISC: the server may hold the link open. A meter
        that never answered SNRM gets none, so a dead meter costs no second wait."""
        try:
            if self._was_up and self._client.state is not ClientState.DISCONNECTED:
                deadline = asyncio.get_running_loop().time() + DISCONNECT_TIMEOUT_S
                await self._stream.write(self._client.disconnect())
                await self._run(deadline)
        except DriverError:
            pass  # the peer is gone or mute: nothing more to tell it
        finally:
            await self._stream.close()

    async def _run(self, deadline: float) -> ClientStep:
        """Feed frames to the state machine until the pending operation completes."""
        try:
            while True:
                frame = await self._stream.receive(self._decoder, deadline)
                step = self._client.receive_frame(frame)
                if step.send:
                    await self._stream.write(step.send)
                if step.done:
                    return step
        except DriverError:
            if self._client.state is not ClientState.DISCONNECTING:
                self._client.state = ClientState.BROKEN
            raise


async def serve_hdlc(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    handler: ApduHandler,
    on_disconnect: DisconnectHandler | None = None,
    *,
    serves: Callable[[ServerAddress], bool] | None = None,
    max_info: int = 128,
) -> None:
    """Serve one TCP connection or pty line until EOF (or cancellation).

    Malformed frames are skipped, as a meter on a noisy line ignores them; the decoder resyncs on
    the next flag. When the line goes away every open link gets `on_disconnect`.
    """
    server = HdlcServer(handler, on_disconnect, serves=serves, max_info=max_info)
    decoder = HdlcFrameDecoder(max_info)
    try:
        while True:
            data = await reader.read(READ_CHUNK)
            if not data:
                break
            decoder.feed(data)
            while True:
                try:
                    frame = decoder.next_frame()
                except MalformedFrame:
                    continue
                if frame is None:
                    break
                reply = server.receive_frame(frame)
                if reply:
                    writer.write(reply)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        server.close()
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
