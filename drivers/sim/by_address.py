"""One listening socket for many simulated meters, told apart by the local address dialled.

A generated fleet gives each GPRS meter its own loopback address (127.x.y.z) on one port, as real
meters each have their own IP address on the standard DLMS/COSEM port 4059. Instead of one
listening socket per meter, one listener on the wildcard address accepts them all: the accepted
socket's *local* address says which meter the head-end dialled. Peers that are not on loopback are
refused (the simulator is no service for the network), as is an address that has no meter.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable

Route = Callable[[str], asyncio.Protocol | None]
"""The protocol serving the meter at a local address, or None: no meter there."""


def loopback_peer(peer: object) -> bool:
    """Whether a transport's `peername` is a loopback address (IPv4-mapped IPv6 included)."""
    if not isinstance(peer, tuple) or not peer or not isinstance(peer[0], str):
        return False
    try:
        address = ipaddress.ip_address(peer[0].split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def local_address(sockname: object) -> str | None:
    """The local IP address of an accepted socket (IPv4-mapped IPv6 as plain IPv4)."""
    if not isinstance(sockname, tuple) or not sockname or not isinstance(sockname[0], str):
        return None
    try:
        address = ipaddress.ip_address(sockname[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


class AddressDispatch(asyncio.Protocol):
    """Accepts one connection, then hands its transport to the protocol of the meter dialled.

    The hand-over happens in `connection_made`, before any byte is read, so the meter's protocol
    sees the whole conversation. A refused connection is aborted at once (no FIN dance, no data).
    """

    def __init__(self, route: Route, *, on_refused: Callable[[str], None] | None = None) -> None:
        self._route = route
        self._on_refused = on_refused

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if not loopback_peer(transport.get_extra_info("peername")):
            self._refuse(transport, "peer not on loopback")
            return
        local = local_address(transport.get_extra_info("sockname"))
        inner = self._route(local) if local is not None else None
        if inner is None:
            self._refuse(transport, f"no meter at {local}")
            return
        transport.set_protocol(inner)
        inner.connection_made(transport)

    def _refuse(self, transport: asyncio.Transport, why: str) -> None:
        transport.abort()
        if self._on_refused is not None:
            self._on_refused(why)

    def data_received(self, data: bytes) -> None:
        # only reached by a refused connection's last bytes: ignore them
        return None
