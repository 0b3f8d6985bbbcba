"""Test peers for the HDLC link tests: a serve_hdlc TCP server and scripted misbehaving peers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from drivers.dlms.hdlc import HdlcLink
from drivers.dlms.link import ServerAddress
from drivers.transport.settings import TcpLink
from drivers.transport.stream import open_stream

BIG = bytes(range(256)) * 4  # 1 KiB: several segments at 128-byte info fields


def echo_handler(calls: list[tuple[ServerAddress, bytes]] | None = None):
    """Replies with the address tag + request + 1 KiB, forcing segmentation both ways."""

    def handle(address: ServerAddress, apdu: bytes) -> bytes:
        if calls is not None:
            calls.append((address, apdu))
        tag = bytes([address.logical, address.physical or 0])
        return tag + apdu + BIG

    return handle


@asynccontextmanager
async def tcp_server(
    port: int, serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
) -> AsyncIterator[asyncio.Server]:
    server = await asyncio.start_server(serve, "127.0.0.1", port)
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()


async def tcp_link(port: int, *, physical: int | None = None, logical: int = 1, max_info=128):
    stream = await open_stream(TcpLink(host="127.0.0.1", port=port), timeout=5)
    return HdlcLink(
        stream,
        client_address=16,
        server_logical=logical,
        server_physical=physical,
        max_info=max_info,
    )


def deadline(seconds: float) -> float:
    return asyncio.get_running_loop().time() + seconds
