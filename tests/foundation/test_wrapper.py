"""IEC 62056-47 wrapper framing: codec, incremental decoding and the client link over TCP."""

import asyncio

import pytest

from drivers.dlms.link import ServerAddress
from drivers.dlms.wrapper import (
    WrapperDecoder,
    WrapperFrame,
    WrapperLink,
    encode_wrapper,
    serve_wrapper,
)
from drivers.errors import ChannelDown, MalformedFrame, Timeout
from drivers.transport.settings import TcpLink
from drivers.transport.stream import open_stream


def test_encode_matches_the_standard_header():
    # version 0001, source wPort 0010, destination 0001, length 0003
    assert encode_wrapper(WrapperFrame(16, 1, b"\xc0\x01\x02")) == bytes.fromhex(
        "0001001000010003c00102"
    )


def test_decoder_reassembles_byte_by_byte():
    wire = encode_wrapper(WrapperFrame(1, 16, b"abc")) + encode_wrapper(WrapperFrame(1, 16, b""))
    decoder = WrapperDecoder()
    frames = []
    for byte in wire:
        decoder.feed(bytes([byte]))
        while (frame := decoder.next_frame()) is not None:
            frames.append(frame)
    assert frames == [WrapperFrame(1, 16, b"abc"), WrapperFrame(1, 16, b"")]


def test_oversized_length_is_malformed_at_once():
    decoder = WrapperDecoder(max_apdu=100)
    decoder.feed(bytes.fromhex("0001000100100065"))  # length 101, no payload yet
    with pytest.raises(MalformedFrame, match="exceeds"):
        decoder.next_frame()


def test_wrong_version_is_malformed():
    decoder = WrapperDecoder()
    decoder.feed(b"\x00\x02")
    with pytest.raises(MalformedFrame, match="version"):
        decoder.next_frame()


async def _start(handler):
    server = await asyncio.start_server(lambda r, w: serve_wrapper(r, w, handler), "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_link_exchange_over_tcp():
    seen = []

    def handler(address: ServerAddress, apdu: bytes) -> bytes:
        seen.append(address)
        return apdu[::-1]

    server, port = await _start(handler)
    async with server:
        stream = await open_stream(TcpLink(host="127.0.0.1", port=port), 2)
        link = WrapperLink(stream, client=16, server=1)
        loop = asyncio.get_running_loop()
        assert await link.exchange(b"\x01\x02\x03", loop.time() + 2) == b"\x03\x02\x01"
        await link.close()
    assert seen == [ServerAddress(client=16, logical=1)]


async def test_silent_peer_times_out_and_closing_peer_is_channel_down():
    server, port = await _start(lambda address, apdu: None)
    async with server:
        stream = await open_stream(TcpLink(host="127.0.0.1", port=port), 2)
        link = WrapperLink(stream, client=16, server=1)
        loop = asyncio.get_running_loop()
        with pytest.raises(Timeout):
            await link.exchange(b"\x01", loop.time() + 0.3)
        await link.close()

    async def close_at_once(reader, writer):
        writer.close()

    server = await asyncio.start_server(close_at_once, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        stream = await open_stream(TcpLink(host="127.0.0.1", port=port), 2)
        link = WrapperLink(stream, client=16, server=1)
        with pytest.raises(ChannelDown):
            await link.exchange(b"\x01", asyncio.get_running_loop().time() + 5)
        await link.close()


async def test_connection_refused_is_channel_down(tcp_port):
    with pytest.raises(ChannelDown, match=f"127.0.0.1:{tcp_port}"):
        await open_stream(TcpLink(host="127.0.0.1", port=tcp_port), 2)


async def test_port_refusing_line_settings_is_channel_down(pty_pair):
    from drivers.transport.settings import SerialLink

    # Linux ptys refuse even parity (EINVAL from termios): the failure must be typed.
    with pytest.raises(ChannelDown, match="cannot configure the port") as info:
        await open_stream(SerialLink(device=pty_pair.slave_path, parity="E"), 2)
    assert pty_pair.slave_path in str(info.value)
