"""Fixtures: a frozen simulated clock and a DL/T 645 simulator with three meters on one line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from drivers.dlt645.settings import Dlt645Settings
from drivers.sim.clock import SimClock
from drivers.sim.dlt645_sim import Dlt645Simulator
from drivers.sim.physics import SimulatedMeter
from drivers.transport.settings import TcpLink

ADDRESSES = ("123456789012", "000000000001", "000000000002")
PASSWORD = bytes.fromhex("02123456")
# 03:00 UTC = 11:00 in Shanghai; 30 hours of history cover one local midnight (16:00 UTC).
START = datetime(2024, 5, 2, 3, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(START, factor=0)


@pytest.fixture
def meters(clock: SimClock) -> dict[str, SimulatedMeter]:
    return {
        a: SimulatedMeter(f"m{i}", clock, seed=i + 3, history=timedelta(hours=30))
        for i, a in enumerate(ADDRESSES)
    }


@pytest.fixture
def simulator(meters: dict[str, SimulatedMeter]) -> Dlt645Simulator:
    return Dlt645Simulator(meters, password=PASSWORD)


@pytest.fixture
async def tcp_link(simulator: Dlt645Simulator, tcp_port: int) -> AsyncIterator[TcpLink]:
    server = await simulator.start_tcp("127.0.0.1", tcp_port)
    yield TcpLink(host="127.0.0.1", port=tcp_port)
    server.close()
    await simulator.aclose()
    await server.wait_closed()


def settings_for(link: object, address: str = ADDRESSES[0], **kw: object) -> Dlt645Settings:
    fields: dict[str, object] = {"link": link, "address": address, "password": PASSWORD}
    fields.update(kw)
    return Dlt645Settings.model_validate(fields)
