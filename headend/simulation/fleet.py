"""Serve a configured fleet as simulated DLMS meters (for `headend simulate` and `headend demo`).

Each channel of the fleet becomes a simulated endpoint: a TCP channel whose meter uses the
wrapper is one simulated meter on its own port (like a GPRS meter with its own address); a TCP
channel with HDLC meters is a simulated concentrator's transparent channel; a serial channel is
an HDLC line on a pseudo-terminal. Meters get the key material their key reference resolves to,
so the head-end and the simulator agree on passwords and keys.

With `configured_ports=False` every endpoint binds a free loopback port instead (the demo does
this so it never collides with anything), and the returned config points at those ports.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

from drivers.dlms.server import DlmsMeterSecrets
from drivers.dlms.settings import DlmsFraming
from drivers.sim.clock import SimClock
from drivers.sim.dlms_sim import DlmsFaults, DlmsSimulator
from drivers.sim.physics import SimulatedMeter
from headend.config.errors import ConfigError
from headend.config.fleet import DlmsMeter, SerialChannel, Simulation, TcpChannel
from headend.config.loader import HeadendConfig


def _secrets(config: HeadendConfig, meter: DlmsMeter) -> DlmsMeterSecrets:
    base = DlmsMeterSecrets.for_meter(meter.id)
    material = config.keys.resolve(meter.key) if meter.key else None
    if material is None:
        return base
    parts: dict[str, bytes] = {}
    for name in ("password", "auth_key", "block_key"):
        value = getattr(material, name)
        if value is not None:
            parts[name] = value.get_secret_value()
    return replace(base, **parts)


class SimulatedFleet:
    """The simulators serving a fleet: one per channel, as each concentrator has its own
    HDLC address space."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.by_channel: dict[str, DlmsSimulator] = {}
        self.by_meter: dict[str, DlmsSimulator] = {}

    def meter(self, meter_id: str) -> SimulatedMeter:
        return self.by_meter[meter_id].meter(meter_id)

    def physical_address(self, meter_id: str) -> int:
        return self.by_meter[meter_id].physical_address(meter_id)


@contextlib.asynccontextmanager
async def simulated_fleet(
    config: HeadendConfig,
    *,
    configured_ports: bool = False,
    host: str = "127.0.0.1",
    faults: Mapping[str, DlmsFaults] | None = None,
) -> AsyncIterator[tuple[SimulatedFleet, HeadendConfig]]:
    """Start simulators for every DLMS meter of `config`; yields them and the config to read."""
    fleet = config.fleet
    sim_cfg = fleet.simulation or Simulation()
    handle = SimulatedFleet(SimClock(factor=sim_cfg.factor))
    meters = [m for m in fleet.meters if isinstance(m, DlmsMeter)]
    seeds = {m.id: sim_cfg.seed + i for i, m in enumerate(meters)}
    async with contextlib.AsyncExitStack() as stack:
        channels: list[Any] = []
        served_meters: dict[str, DlmsMeter] = {}
        for i, channel in enumerate(fleet.channels):
            on_channel = [m for m in meters if m.channel == channel.id]
            if not on_channel:
                channels.append(channel)
                continue
            sim = await stack.enter_async_context(DlmsSimulator(handle.clock, host=host))
            handle.by_channel[channel.id] = sim
            for meter in on_channel:
                physical = meter.server_physical if meter.framing is DlmsFraming.HDLC else None
                sim.add_meter(
                    SimulatedMeter(
                        meter.id, handle.clock, seed=seeds[meter.id], history=sim_cfg.history
                    ),
                    _secrets(config, meter),
                    faults=(faults or {}).get(meter.id),
                    physical_address=physical,
                )
                handle.by_meter[meter.id] = sim
                if meter.framing is DlmsFraming.HDLC:
                    # HDLC meters without a configured physical address got one from the sim
                    update = {"server_physical": sim.physical_address(meter.id)}
                    served_meters[meter.id] = meter.model_copy(update=update)
            ids = [m.id for m in on_channel]
            if isinstance(channel, SerialChannel):
                device = await sim.serve_hdlc_pty(ids)
                channels.append(channel.model_copy(update={"device": device}))
                continue
            port = channel.port if configured_ports else 0
            if all(m.framing is DlmsFraming.HDLC for m in on_channel):
                port = await sim.serve_hdlc_tcp(ids, port=port)
            elif len(on_channel) == 1:
                port = await sim.serve_wrapper(ids[0], port=port)
            else:
                raise ConfigError.one(
                    config.path,
                    f"channels[{i}]",
                    "the simulator serves one wrapper meter per TCP channel, or HDLC meters only",
                )
            assert isinstance(channel, TcpChannel)
            channels.append(channel.model_copy(update={"host": host, "port": port}))
        all_meters = [served_meters.get(m.id, m) for m in fleet.meters]
        served = fleet.model_copy(update={"channels": channels, "meters": all_meters})
        yield handle, HeadendConfig(config.path, served, config.keys)
