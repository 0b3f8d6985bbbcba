"""Interoperability: dlms-cosem's own blocking HDLC client against our serve_hdlc over TCP."""

from __future__ import annotations

import asyncio
import functools

from dlms_cosem.io import BlockingTcpIO, HdlcTransport

from drivers.dlms.hdlc import serve_hdlc
from drivers.dlms.link import ServerAddress

from .peers import tcp_server


def run_dlms_cosem_client(port: int, requests: list[bytes], physical: int | None) -> list[bytes]:
    transport = HdlcTransport(
        client_logical_address=16,
        server_logical_address=1,
        server_physical_address=physical,
        io=BlockingTcpIO("127.0.0.1", port, timeout=5),
        timeout=5,
    )
    transport.connect()
    replies = [bytes(transport.send_request(request)) for request in requests]
    transport.disconnect()
    return replies


async def test_dlms_cosem_hdlc_transport_talks_to_serve_hdlc(tcp_port):
    calls: list[tuple[ServerAddress, bytes]] = []
    gone: list[ServerAddress] = []

    def handler(address: ServerAddress, apdu: bytes) -> bytes:
        calls.append((address, apdu))
        return b"\xc4\x01\xc1\x00" + apdu[::-1]

    # 300-byte request and reply: dlms-cosem segments at 128 bytes, so do we (its SNRM
    # proposes nothing, which means the default 128).
    long_request = bytes(i % 0x70 + 1 for i in range(300))
    requests = [b"\xc0\x01\xc1\x00\x08", long_request]
    serve = functools.partial(serve_hdlc, handler=handler, on_disconnect=gone.append)
    async with tcp_server(tcp_port, serve):
        replies = await asyncio.wait_for(
            asyncio.to_thread(run_dlms_cosem_client, tcp_port, requests, 17), timeout=10
        )
        for _ in range(50):
            if gone:
                break
            await asyncio.sleep(0.02)
    assert replies == [b"\xc4\x01\xc1\x00" + r[::-1] for r in requests]
    address = ServerAddress(client=16, logical=1, physical=17)
    assert calls == [(address, r) for r in requests]
    assert gone == [address]
