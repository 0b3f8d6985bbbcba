"""HdlcLink against serve_hdlc and against misbehaving peers over real loopback TCP."""

from __future__ import annotations

import asyncio
import functools

import pytest

from drivers.dlms.hdlc import ClientState, HdlcFrame, serve_hdlc
from drivers.dlms.hdlc.address import HdlcAddress
from drivers.dlms.hdlc.decoder import HdlcFrameDecoder
from drivers.dlms.hdlc.frames import FrameKind
from drivers.dlms.hdlc.params import HdlcParameters
from drivers.dlms.link import ServerAddress
from drivers.errors import ChannelDown, MalformedFrame, ProtocolError, Timeout

from .peers import BIG, deadline, echo_handler, tcp_link, tcp_server


async def test_segmented_request_and_reply_over_tcp(tcp_port):
    calls: list[tuple[ServerAddress, bytes]] = []
    gone: list[ServerAddress] = []
    serve = functools.partial(serve_hdlc, handler=echo_handler(calls), on_disconnect=gone.append)
    async with tcp_server(tcp_port, serve):
        link = await tcp_link(tcp_port, physical=17)
        await link.open(deadline(5))
        request = b"\xc0\x01" + bytes(range(200)) * 3  # 602 bytes: 5 segments
        for _ in range(3):  # several exchanges: sequence numbers wrap past 7
            reply = await link.exchange(request, deadline(5))
            assert reply == bytes([1, 17]) + request + BIG
        await link.close()
        assert link.state is ClientState.DISCONNECTED
        for _ in range(50):
            if gone:
                break
            await asyncio.sleep(0.02)
    assert [apdu for _, apdu in calls] == [request] * 3
    assert calls[0][0] == ServerAddress(client=16, logical=1, physical=17)
    assert gone == [ServerAddress(client=16, logical=1, physical=17)]


async def test_negotiated_sizes_are_honoured(tcp_port):
    # server limits to 64 bytes, client proposes 512: both directions must use 64
    seen: list[int] = []

    async def serve(reader, writer):
        await serve_hdlc(reader, writer, echo_handler(), max_info=64)

    async with tcp_server(tcp_port, serve):
        link = await tcp_link(tcp_port, max_info=512)
        await link.open(deadline(5))
        params = link._client.params
        seen += [params.max_info_tx, params.max_info_rx]
        assert await link.exchange(b"x" * 300, deadline(5)) == bytes([1, 0]) + b"x" * 300 + BIG
        await link.close()
    assert seen == [64, 64]


async def test_concentrator_serves_two_physical_addresses_third_times_out(tcp_port):
    calls: list[tuple[ServerAddress, bytes]] = []

    async def serve(reader, writer):
        await serve_hdlc(
            reader, writer, echo_handler(calls), serves=lambda a: a.physical in (17, 18)
        )

    async with tcp_server(tcp_port, serve):
        for physical in (17, 18):
            link = await tcp_link(tcp_port, physical=physical)
            await link.open(deadline(5))
            reply = await link.exchange(b"\x01\x02", deadline(5))
            assert reply[:4] == bytes([1, physical, 1, 2])
            await link.close()
        link = await tcp_link(tcp_port, physical=19)
        with pytest.raises(Timeout):
            await link.open(deadline(0.5))
        await link.close()
    assert {address.physical for address, _ in calls} == {17, 18}


async def test_two_logical_devices_share_one_connection(tcp_port):
    async with tcp_server(tcp_port, functools.partial(serve_hdlc, handler=echo_handler())):
        link = await tcp_link(tcp_port, logical=1, physical=17)
        await link.open(deadline(5))
        assert (await link.exchange(b"\x09", deadline(5)))[:3] == bytes([1, 17, 9])
        await link.close()


async def test_information_before_snrm_gets_dm(tcp_port):
    async with tcp_server(tcp_port, functools.partial(serve_hdlc, handler=echo_handler())):
        reader, writer = await asyncio.open_connection("127.0.0.1", tcp_port)
        frame = HdlcFrame(FrameKind.I, HdlcAddress(1), HdlcAddress(16), b"\xe6\xe6\x00\x01")
        writer.write(frame.encode())
        decoder = HdlcFrameDecoder()
        async with asyncio.timeout(5):
            while (reply := decoder.next_frame()) is None:
                decoder.feed(await reader.read(100))
        assert reply.kind is FrameKind.DM
        writer.close()


async def _scripted(reader, writer, *, after_snrm: bytes, then_close: bool):
    """Answers SNRM with UA, then sends `after_snrm` to the first I-frame (and maybe hangs up)."""
    decoder = HdlcFrameDecoder()
    try:
        while data := await reader.read(4096):
            decoder.feed(data)
            while (frame := decoder.next_frame()) is not None:
                if frame.kind is FrameKind.SNRM:
                    ua = HdlcFrame(
                        FrameKind.UA, frame.source, frame.destination, HdlcParameters().encode()
                    )
                    writer.write(ua.encode())
                elif frame.kind is FrameKind.I:
                    writer.write(after_snrm)
                    await writer.drain()
                    if then_close:
                        writer.close()
                        return
    except ConnectionError:
        pass


def _reply_segment(segmented: bool, ns: int = 0) -> bytes:
    return HdlcFrame(
        FrameKind.I,
        HdlcAddress(16),
        HdlcAddress(1),
        b"\xe6\xe7\x00" + b"a" * 50,
        True,
        segmented,
        ns,
        1,
    ).encode()


async def test_peer_closing_mid_reply_is_channel_down(tcp_port):
    serve = functools.partial(_scripted, after_snrm=_reply_segment(True)[:-10], then_close=True)
    async with tcp_server(tcp_port, serve):
        link = await tcp_link(tcp_port)
        await link.open(deadline(5))
        with pytest.raises(ChannelDown):
            await link.exchange(b"\x01", deadline(5))
        await link.close()


async def test_peer_that_never_answers_times_out(tcp_port):
    serve = functools.partial(_scripted, after_snrm=b"", then_close=False)
    async with tcp_server(tcp_port, serve):
        link = await tcp_link(tcp_port)
        await link.open(deadline(5))
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(5):  # hang guard only
            with pytest.raises(Timeout):
                await link.exchange(b"\x01", loop.time() + 0.3)
        await link.close()


@pytest.mark.parametrize(
    "garbage",
    [b"\x00" * 5000, b"\x7e" * 5000, bytes(range(256)) * 20, b"\x7e\xa7\xff" + b"\x55" * 100],
)
async def test_peer_sending_garbage_fails_within_the_deadline(tcp_port, garbage):
    serve = functools.partial(_scripted, after_snrm=garbage, then_close=False)
    async with tcp_server(tcp_port, serve):
        link = await tcp_link(tcp_port)
        await link.open(deadline(5))
        async with asyncio.timeout(5):
            with pytest.raises((MalformedFrame, Timeout)):
                await link.exchange(b"\x01", deadline(0.5))
        await link.close()


async def test_wrong_sequence_number_is_protocol_error(tcp_port):
    serve = functools.partial(_scripted, after_snrm=_reply_segment(False, ns=3), then_close=False)
    async with tcp_server(tcp_port, serve):
        link = await tcp_link(tcp_port)
        await link.open(deadline(5))
        with pytest.raises(ProtocolError):
            await link.exchange(b"\x01", deadline(5))
        assert link.state is ClientState.BROKEN
        with pytest.raises(ProtocolError):
            await link.exchange(b"\x01", deadline(5))
        await link.close()


async def test_a_meter_that_never_answered_snrm_gets_no_disc(tcp_port):
    received: list[FrameKind] = []

    async def mute(reader, writer):
        decoder = HdlcFrameDecoder()
        while data := await reader.read(4096):
            decoder.feed(data)
            while (frame := decoder.next_frame()) is not None:
                received.append(frame.kind)

    async with tcp_server(tcp_port, mute):
        link = await tcp_link(tcp_port)
        with pytest.raises(Timeout):
            await link.open(deadline(0.3))
        await link.close()
        for _ in range(20):
            await asyncio.sleep(0.01)
    assert received == [FrameKind.SNRM]
