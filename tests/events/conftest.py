"""A DLMS simulator with one meter on the wrapper, and our driver's settings to reach it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from pydantic import SecretBytes

from drivers.dlms.client.counters import MemoryCounters
from drivers.dlms.client.session import DlmsSession, open_dlms_session
from drivers.dlms.server import DlmsMeterSecrets
from drivers.dlms.settings import DlmsAuth, DlmsFraming, DlmsSettings
from drivers.sim.clock import SimClock
from drivers.sim.cosem.events import drain_pushes
from drivers.sim.dlms_sim import DlmsSimulator
from drivers.sim.physics import SimulatedMeter
from drivers.transport.settings import TcpLink

START = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
METER = "M1"
PASSWORD = b"12345678"
SECRETS = DlmsMeterSecrets(
    password=PASSWORD,
    system_title=b"SIM00001",
    auth_key=bytes(range(0xD0, 0xE0)),
    block_key=bytes(range(16)),
)


@dataclass
class Rig:
    clock: SimClock
    sim: DlmsSimulator
    meter: SimulatedMeter
    port: int

    @property
    def settings(self) -> DlmsSettings:
        return DlmsSettings(
            framing=DlmsFraming.WRAPPER,
            link=TcpLink(host="127.0.0.1", port=self.port),
            auth=DlmsAuth.LOW,  # the public client may not set the clock or push destination
            password=SecretBytes(PASSWORD),
            timeout_s=5.0,
            connect_timeout_s=5.0,
        )

    async def open(self) -> DlmsSession:
        return await open_dlms_session(self.settings, meter_id=METER, counters=MemoryCounters())


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = SimClock(start=START, factor=0.0)  # frozen: the tests move it with advance()
    async with DlmsSimulator(clock) as sim:
        meter = SimulatedMeter(METER, clock, seed=3)
        sim.add_meter(meter, SECRETS)
        port = await sim.serve_wrapper(METER)
        yield Rig(clock, sim, meter, port)
        await drain_pushes()
