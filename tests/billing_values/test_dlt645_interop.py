"""Interop: our driver reads the settlement-day data of the independent `dlt645` package's meter
simulator (PyPI `dlt645`, a dev dependency) as the billing profile 0.0.98.1.0.255.

The package answers `00 0d 0t nn` for the last 12 settlement days, the date, time and first
settlement day parameters (`04 00 01 01/02`, `04 00 0B 01`) as set; it has no daily freezes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from drivers.contract import Point
from drivers.dlt645 import open_session
from drivers.dlt645.frame import address_to_wire
from drivers.dlt645.settings import Dlt645Settings
from drivers.transport.settings import TcpLink
from tests.billing_values.conftest import by_capture

dlt645 = pytest.importorskip("dlt645")
from dlt645.service.serversvc.async_server_service import (  # noqa: E402
    AsyncMeterServerService,
)

ADDRESS = "202501020304"
# forward total, tariffs 1..4, reverse total (kWh) at the last and the second last settlement
SETTLED = {
    1: (2000.12, 900.01, 600.02, 300.03, 200.06, 5.5),
    2: (1800.50, 810.10, 540.20, 270.10, 180.10, 4.25),
}


@pytest.fixture
async def peer(tcp_port: int) -> AsyncIterator[tuple[TcpLink, Any]]:
    service = AsyncMeterServerService.new_tcp_server("127.0.0.1", tcp_port, timeout=1.0)
    service.set_address(address_to_wire(ADDRESS))  # wire order, low byte first
    assert service.set_04(0x04000101, "25031501")  # 2025-03-15, a Saturday (WW is not read)
    assert service.set_04(0x04000102, "093000")
    assert service.set_04(0x04000B01, "0100")  # settle on the 1st at 00:00
    for n, (total, t1, t2, t3, t4, reverse) in SETTLED.items():
        for tariff, kwh in enumerate((total, t1, t2, t3, t4)):
            assert service.set_00(0x00010000 | tariff << 8 | n, kwh)
        assert service.set_00(0x00020000 | n, reverse)
    await service.start()
    yield TcpLink(host="127.0.0.1", port=tcp_port), service
    await service.stop()


async def test_settlements_of_the_dlt645_package(peer: tuple[TcpLink, Any]) -> None:
    link, _ = peer
    settings = Dlt645Settings(link=link, address=ADDRESS, timeout_s=5.0)
    async with await open_session(settings, meter_id="peer") as session:
        readings = await session.read_profile(
            Point(obis="0.0.98.1.0.255"),
            datetime(2025, 1, 15, tzinfo=UTC),
            datetime(2025, 3, 15, tzinfo=UTC),
        )
    rows = by_capture(readings)
    # the 1st of March and of February at 00:00 in Shanghai (the settings' default zone)
    march, february = datetime(2025, 2, 28, 16, tzinfo=UTC), datetime(2025, 1, 31, 16, tzinfo=UTC)
    assert sorted(rows) == [february, march]
    for when, n in ((march, 1), (february, 2)):
        total, t1, t2, t3, t4, reverse = (Decimal(str(kwh)) * 1000 for kwh in SETTLED[n])
        assert rows[when] == {
            "1.0.1.8.0.255": total,
            "1.0.1.8.1.255": t1,
            "1.0.1.8.2.255": t2,
            "1.0.1.8.3.255": t3,
            "1.0.1.8.4.255": t4,
            "1.0.2.8.0.255": reverse,
        }
