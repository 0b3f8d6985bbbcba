"""Misbehaving DLMS peers built from raw asyncio servers: silent, garbage, and a fault proxy.

The fault proxy sits between the client and a real simulator port and forwards bytes both ways
until a chosen reply, which it then withholds, cuts short, or replaces with garbage. That gives
"a meter that dies in the middle of a read" with the real protocol up to that point.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class Fault:
    """What to do with the reply chunk number `at_reply` (0 = the AARE)."""

    at_reply: int
    action: str  # "silence", "close", "truncate", "garbage", "babble"
    payload: bytes = b""


@dataclass
class ProxyStats:
    replies: int = 0
    connections: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(ConnectionError, OSError):
        writer.close()


@contextlib.asynccontextmanager
async def fault_proxy(
    upstream_port: int, fault: Fault, *, reply_gap: float = 0.0
) -> AsyncIterator[tuple[int, ProxyStats]]:
    """A TCP proxy to 127.0.0.1:upstream_port that injects `fault`. Yields (port, stats)."""
    stats = ProxyStats()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        stats.connections += 1
        up_r, up_w = await asyncio.open_connection("127.0.0.1", upstream_port)
        upward = asyncio.create_task(_pump(client_r, up_w))
        try:
            while data := await up_r.read(4096):
                if stats.replies == fault.at_reply:
                    if fault.action == "silence":
                        await asyncio.sleep(3600)
                    if fault.action == "truncate":
                        client_w.write(data[: max(1, len(data) // 2)])
                        await client_w.drain()
                        break
                    if fault.action == "close":
                        break
                    if fault.action == "garbage":
                        data = fault.payload
                    if fault.action == "babble":
                        # an endless stream of bytes that never forms a frame
                        while True:
                            client_w.write(fault.payload)
                            await client_w.drain()
                            await asyncio.sleep(0.01)
                stats.replies += 1
                client_w.write(data)
                await client_w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            upward.cancel()
            for w in (client_w, up_w):
                with contextlib.suppress(ConnectionError, OSError):
                    w.close()

    def spawn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(handle(r, w))
        stats.tasks.add(task)
        task.add_done_callback(stats.tasks.discard)

    server = await asyncio.start_server(spawn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, stats
    finally:
        server.close()
        for task in list(stats.tasks):
            task.cancel()
        await asyncio.gather(*stats.tasks, return_exceptions=True)
        await server.wait_closed()


@contextlib.asynccontextmanager
async def raw_peer(reply: bytes | None, *, close_after: bool = False) -> AsyncIterator[int]:
    """A peer that answers the first request with `reply` (None: never answers)."""
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read(4096)
            if reply is not None:
                writer.write(reply)
                await writer.drain()
            if close_after:
                return
            await asyncio.sleep(3600)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    def spawn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(handle(r, w))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(spawn, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
