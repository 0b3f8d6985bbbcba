"""Interop: our driver reads the independent `dlt645` package's meter simulator over TCP.

The package (PyPI `dlt645`, test-only) runs its asyncio TCP server in our loop. Its
`set_address()` takes bytes in wire order (low byte first), so the nameplate address is reversed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from drivers.contract import PartialRead, Point
from drivers.dlt645 import open_session
from drivers.dlt645.frame import address_to_wire
from drivers.errors import ObjectUnavailable
from drivers.transport.settings import TcpLink
from tests.dlt645.conftest import settings_for

dlt645 = pytest.importorskip("dlt645")
from dlt645.service.serversvc.async_server_service import (  # noqa: E402
    AsyncMeterServerService,
)

ADDRESS = "202401020304"


@pytest.fixture
async def peer(tcp_port: int) -> AsyncIterator[tuple[TcpLink, Any]]:
    service = AsyncMeterServerService.new_tcp_server("127.0.0.1", tcp_port, timeout=1.0)
    service.set_address(address_to_wire(ADDRESS))  # wire order, low byte first
    service.set_00(0x00010000, 1234.56)  # forward active energy, kWh
    service.set_00(0x00010100, 600.01)
    service.set_00(0x00020000, 7.5)  # reverse active energy, kWh
    service.set_02(0x02010100, 220.1)  # voltage A, V
    service.set_02(0x02020100, -1.234)  # current A (sign bit), A
    service.set_02(0x02030000, -2.5)  # total active power, kW (exporting)
    service.set_02(0x02030100, 0.1234)
    await service.start()
    yield TcpLink(host="127.0.0.1", port=tcp_port), service
    await service.stop()


async def test_reads_the_dlt645_package_simulator(peer: tuple[TcpLink, Any]) -> None:
    link, _ = peer
    points = [
        "1.0.1.8.0.255",
        "1.0.1.8.1.255",
        "1.0.2.8.0.255",
        "1.0.32.7.0.255",
        "1.0.31.7.0.255",
        "1.0.16.7.0.255",
        "1.0.1.7.0.255",
        "1.0.2.7.0.255",
        "1.0.36.7.0.255",
    ]
    async with await open_session(settings_for(link, ADDRESS), meter_id="peer") as session:
        readings = await session.read([Point(obis=o) for o in points])
    got = {r.obis: (r.value, r.unit) for r in readings}
    assert got == {
        "1.0.1.8.0.255": (Decimal("1234560"), "Wh"),
        "1.0.1.8.1.255": (Decimal("600010"), "Wh"),
        "1.0.2.8.0.255": (Decimal("7500"), "Wh"),
        "1.0.32.7.0.255": (Decimal("220.1"), "V"),
        "1.0.31.7.0.255": (Decimal("-1.234"), "A"),
        "1.0.16.7.0.255": (Decimal("-2500.0"), "W"),
        "1.0.1.7.0.255": (Decimal("0.0"), "W"),
        "1.0.2.7.0.255": (Decimal("2500.0"), "W"),
        "1.0.36.7.0.255": (Decimal("123.4"), "W"),
    }


async def test_error_reply_from_the_package_is_object_unavailable(
    peer: tuple[TcpLink, Any],
) -> None:
    link, _ = peer
    async with await open_session(settings_for(link, ADDRESS), meter_id="peer") as session:
        # The package has no frozen data (05 ...): it answers with an abnormal reply.
        with pytest.raises(PartialRead) as info:
            await session.read([Point(obis="1.0.1.8.0.101")])
        (failure,) = info.value.failures
        assert isinstance(failure, ObjectUnavailable) and "05 06 01 01" in str(failure)


async def test_read_address_from_the_package(peer: tuple[TcpLink, Any]) -> None:
    link, _ = peer
    async with await open_session(settings_for(link, "AAAAAAAAAAAA"), meter_id="?") as session:
        assert await session.read_address() == ADDRESS
