"""Peers that are not meters: refused, silent, noisy, closing. Typed errors before the deadline."""

from __future__ import annotations

import asyncio

import pytest

from drivers.dlms.client.session import open_dlms_session
from drivers.dlms.settings import DlmsFraming, DlmsSettings
from drivers.dlms.wrapper import WrapperFrame, encode_wrapper
from drivers.errors import ChannelDown, MalformedFrame, ProtocolError, Timeout
from drivers.transport.settings import TcpLink

from .peers import raw_peer

HANG_GUARD_S = 5.0


def wrapper_settings(port: int, **kw: object) -> DlmsSettings:
    return DlmsSettings(
        framing=DlmsFraming.WRAPPER,
        link=TcpLink(host="127.0.0.1", port=port),
        timeout_s=0.5,
        connect_timeout_s=0.5,
        **kw,  # type: ignore[arg-type]
    )


async def test_refused_port_is_channel_down(tcp_port: int) -> None:
    with pytest.raises(ChannelDown) as info:
        async with asyncio.timeout(HANG_GUARD_S):
            await open_dlms_session(wrapper_settings(tcp_port), meter_id="m9")
    assert info.value.meter == "m9"


async def test_silent_peer_is_a_timeout() -> None:
    async with raw_peer(None) as port:
        with pytest.raises(Timeout) as info:
            async with asyncio.timeout(HANG_GUARD_S):
                await open_dlms_session(wrapper_settings(port), meter_id="m9")
    assert info.value.meter == "m9"


async def test_peer_closing_mid_reply_is_channel_down() -> None:
    half = encode_wrapper(WrapperFrame(1, 16, b"\x61" * 40))[:20]
    async with raw_peer(half, close_after=True) as port:
        with pytest.raises(ChannelDown):
            async with asyncio.timeout(HANG_GUARD_S):
                await open_dlms_session(wrapper_settings(port), meter_id="m9")


async def test_line_noise_is_a_malformed_frame() -> None:
    async with raw_peer(b"\xde\xad\xbe\xef" * 8) as port:
        with pytest.raises(MalformedFrame):
            async with asyncio.timeout(HANG_GUARD_S):
                await open_dlms_session(wrapper_settings(port), meter_id="m9")


@pytest.mark.parametrize(
    "apdu",
    [
        b"",
        b"\x61",
        b"\x61\x03\xa1\x01\x00",
        b"\xff\x00\x01",
    ],
)
async def test_well_framed_garbage_apdu_is_malformed(apdu: bytes) -> None:
    async with raw_peer(encode_wrapper(WrapperFrame(1, 16, apdu))) as port:
        with pytest.raises(MalformedFrame) as info:
            async with asyncio.timeout(HANG_GUARD_S):
                await open_dlms_session(wrapper_settings(port), meter_id="m9")
    assert info.value.meter == "m9"


@pytest.mark.parametrize(
    "apdu",
    [b"\xc4\x01\xc1\x00\x06", b"\xdb\x08ABCDEFGH\x10\x30\x00\x00\x00\x01"],
)
async def test_well_formed_apdu_out_of_turn_is_a_protocol_error(apdu: bytes) -> None:
    async with raw_peer(encode_wrapper(WrapperFrame(1, 16, apdu))) as port:
        with pytest.raises(ProtocolError):
            async with asyncio.timeout(HANG_GUARD_S):
                await open_dlms_session(wrapper_settings(port), meter_id="m9")
