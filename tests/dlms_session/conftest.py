"""A DLMS simulator with one well-behaved meter, and settings for every framing and security."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import SecretBytes

from drivers.dlms.client.counters import MemoryCounters
from drivers.dlms.client.session import DlmsSession, open_dlms_session
from drivers.dlms.server import DlmsMeterSecrets
from drivers.dlms.settings import DlmsAuth, DlmsFraming, DlmsSettings
from drivers.sim.clock import SimClock
from drivers.sim.dlms_sim import DlmsSimulator
from drivers.sim.physics import SimulatedMeter
from drivers.transport.settings import SerialLink, TcpLink

PASSWORD = b"12345678"
AUTH_KEY = bytes(range(0xD0, 0xE0))
BLOCK_KEY = bytes(range(16))
CLIENT_TITLE = b"HES00001"
SECRETS = DlmsMeterSecrets(
    password=PASSWORD, system_title=b"SIM00001", auth_key=AUTH_KEY, block_key=BLOCK_KEY
)
FRAMINGS = ("wrapper", "hdlc-tcp", "hdlc-pty")
AUTHS = ("none", "lls", "hls")


def security(auth: str, **override: Any) -> dict[str, Any]:
    if auth == "none":
        return {"auth": DlmsAuth.NONE}
    if auth == "lls":
        return {"auth": DlmsAuth.LOW, "password": SecretBytes(override.get("password", PASSWORD))}
    return {
        "auth": DlmsAuth.HLS_GMAC,
        "cipher": True,
        "system_title": CLIENT_TITLE,
        "auth_key": SecretBytes(override.get("auth_key", AUTH_KEY)),
        "block_key": SecretBytes(override.get("block_key", BLOCK_KEY)),
    }


@dataclass
class Rig:
    clock: SimClock
    sim: DlmsSimulator
    meter: SimulatedMeter
    # the simulator's counters start afresh with every test, so must the client's
    counters: MemoryCounters = field(default_factory=MemoryCounters)

    async def open(self, settings: DlmsSettings, meter_id: str = "m1") -> DlmsSession:
        return await open_dlms_session(settings, meter_id=meter_id, counters=self.counters)

    async def settings(
        self, framing: str, auth: str, meter_id: str = "m1", **kw: Any
    ) -> DlmsSettings:
        override = {k: kw.pop(k) for k in ("password", "auth_key", "block_key") if k in kw}
        common: dict[str, Any] = {"timeout_s": 2.0, "connect_timeout_s": 2.0, **kw}
        common.update(security(auth, **override))
        if framing == "wrapper":
            port = await self.sim.serve_wrapper(meter_id)
            return DlmsSettings(
                framing=DlmsFraming.WRAPPER, link=TcpLink(host="127.0.0.1", port=port), **common
            )
        physical = self.sim.physical_address(meter_id)
        if framing == "hdlc-tcp":
            port = await self.sim.serve_hdlc_tcp([meter_id])
            link: TcpLink | SerialLink = TcpLink(host="127.0.0.1", port=port)
        else:
            link = SerialLink(device=await self.sim.serve_hdlc_pty([meter_id]), baud=115200)
        return DlmsSettings(framing=DlmsFraming.HDLC, link=link, server_physical=physical, **common)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = SimClock(factor=0)
    async with DlmsSimulator(clock) as sim:
        meter = SimulatedMeter("m1", clock, seed=1)
        sim.add_meter(meter, SECRETS)
        yield Rig(clock, sim, meter)
