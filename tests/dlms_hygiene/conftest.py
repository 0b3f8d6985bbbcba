"""A DLMS simulator with one meter under a fresh id per test, the client's caches cleared for it,
and settings for the wrapper or HDLC over TCP (no security: caches and clocks do not depend on it).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from drivers.dlms.client.meter_cache import forget_meter
from drivers.dlms.client.session import DlmsSession, open_dlms_session
from drivers.dlms.settings import DlmsFraming, DlmsSettings
from drivers.sim.clock import SimClock
from drivers.sim.dlms_sim import DlmsSimulator
from drivers.sim.physics import SimulatedMeter
from drivers.transport.settings import TcpLink

_IDS = itertools.count(1)


@dataclass
class Hygiene:
    clock: SimClock
    sim: DlmsSimulator
    meter: SimulatedMeter

    @property
    def meter_id(self) -> str:
        return self.meter.meter_id

    def gets(self) -> int:
        """Plain GET requests the meter served so far (one attribute each)."""
        return self.sim.requests(self.meter_id)["get"]

    async def settings(self, framing: str = "wrapper", **kw: Any) -> DlmsSettings:
        common: dict[str, Any] = {"timeout_s": 5.0, "connect_timeout_s": 5.0, **kw}
        if framing == "wrapper":
            port = await self.sim.serve_wrapper(self.meter_id)
            link = TcpLink(host="127.0.0.1", port=port)
            return DlmsSettings(framing=DlmsFraming.WRAPPER, link=link, **common)
        port = await self.sim.serve_hdlc_tcp([self.meter_id])
        return DlmsSettings(
            framing=DlmsFraming.HDLC,
            link=TcpLink(host="127.0.0.1", port=port),
            server_physical=self.sim.physical_address(self.meter_id),
            **common,
        )

    async def open(self, settings: DlmsSettings) -> DlmsSession:
        return await open_dlms_session(settings, meter_id=self.meter_id)


@pytest.fixture
async def hygiene() -> AsyncIterator[Hygiene]:
    # frozen clock: the physical energy cannot move between the read and the check
    clock = SimClock(factor=0)
    meter_id = f"hyg-{next(_IDS)}"
    forget_meter(meter_id)
    async with DlmsSimulator(clock) as sim:
        meter = SimulatedMeter(meter_id, clock, seed=7)
        sim.add_meter(meter)
        yield Hygiene(clock, sim, meter)
    forget_meter(meter_id)
