"""HdlcLink over a real pseudo-terminal: the simulator serves the master side with serve_hdlc,
the client opens the slave as an ordinary serial port."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from drivers.dlms.hdlc import HdlcLink, serve_hdlc
from drivers.dlms.link import ServerAddress
from drivers.errors import Timeout
from drivers.transport.pty import fd_streams
from drivers.transport.settings import SerialLink
from drivers.transport.stream import open_stream

from .peers import BIG, deadline, echo_handler


@contextlib.asynccontextmanager
async def served_pty(pair, **kwargs):
    reader, writer = await fd_streams(pair.master_fd)
    task = asyncio.create_task(serve_hdlc(reader, writer, **kwargs))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def serial_link(pair, physical: int | None) -> HdlcLink:
    stream = await open_stream(SerialLink(device=pair.slave_path, baud=115200), timeout=5)
    return HdlcLink(stream, client_address=16, server_logical=1, server_physical=physical)


async def test_segmented_exchange_over_a_pty(pty_pair):
    calls: list[tuple[ServerAddress, bytes]] = []
    gone: list[ServerAddress] = []
    async with served_pty(pty_pair, handler=echo_handler(calls), on_disconnect=gone.append):
        link = await serial_link(pty_pair, physical=None)
        await link.open(deadline(5))
        request = bytes(range(256)) + b"\x7e" * 300  # flags inside the data, several segments
        assert await link.exchange(request, deadline(5)) == bytes([1, 0]) + request + BIG
        await link.close()
    assert calls == [(ServerAddress(client=16, logical=1), request)]
    assert gone == [ServerAddress(client=16, logical=1)]


async def test_rs485_bus_two_meters_answer_third_is_silent(pty_pair):
    def bus(address: ServerAddress) -> bool:
        return address.physical in (17, 18)

    async with served_pty(pty_pair, handler=echo_handler(), serves=bus):
        for physical in (18, 17):
            link = await serial_link(pty_pair, physical)
            await link.open(deadline(5))
            assert (await link.exchange(b"\x05", deadline(5)))[:3] == bytes([1, physical, 5])
            await link.close()
        link = await serial_link(pty_pair, 19)
        with pytest.raises(Timeout):
            await link.open(deadline(0.5))
        await link.close()
