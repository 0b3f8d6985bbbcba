"""Serve a configured fleet as simulated meters (for `headend simulate` and `headend demo`).

Each channel of the fleet becomes one simulated endpoint, serving the meters of one protocol:

- DLMS: a TCP channel whose meter uses the wrapper is one simulated meter on its own port (like a
  GPRS meter with its own address); a TCP channel with HDLC meters is a simulated concentrator's
  transparent channel; a serial channel is an HDLC line on a pseudo-terminal. Meters get the key
  material their key reference resolves to, so the head-end and the simulator agree on keys.
- Modbus: the units of a channel share one simulated bus (`ModbusSimServer`, one request at a
  time) serving each unit's register map. On a TCP channel the meters' framing decides the wire:
  `socket` (MBAP, a Modbus TCP meter or gateway) or `rtu` (RTU frames through an RS-485 gateway);
  a serial channel is an RTU bus on a pseudo-terminal.
- DL/T 645: the meters of a channel are several addresses on one simulated RS-485 line
  (`Dlt645Simulator`), behind a serial-to-Ethernet converter on TCP or on a pseudo-terminal.
  Pseudo-terminals refuse even parity, so a simulated serial line runs 8N1 whatever the file says.
  DL/T 645 meters get at least 26 hours of history, so their last daily freeze exists.

A channel mixing protocols is a configuration error for the simulator. Every simulated meter has
the same consumption model and shares the simulation clock (`[simulation] factor`). Meters named
in `silent` never answer (a dead meter of any protocol, for failure tests).

With `configured_ports=False` every endpoint binds a free loopback port instead (the demo does
this so it never collides with anything), and the returned config points at those ports.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from drivers.dlms.server import DlmsMeterSecrets
from drivers.dlms.settings import DlmsFraming
from drivers.dlt645.frame import address_to_wire
from drivers.modbus.registermap import load_map
from drivers.sim.clock import SimClock
from drivers.sim.dlms_sim import DlmsFaults, DlmsSimulator
from drivers.sim.dlt645_sim import Dlt645Simulator
from drivers.sim.modbus import Fault, ModbusSimServer, SimModbusDevice
from drivers.sim.physics import SimulatedMeter
from drivers.transport.pty import open_pty
from headend.config.errors import ConfigError
from headend.config.fleet import (
    DlmsMeter,
    Dlt645Meter,
    ModbusMeter,
    SerialChannel,
    Simulation,
    TcpChannel,
)
from headend.config.loader import HeadendConfig

AnyMeter = DlmsMeter | ModbusMeter | Dlt645Meter
DLT645_MIN_HISTORY = timedelta(hours=26)
"""A DL/T 645 meter's last daily freeze (taken at local midnight) must exist from the start."""


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
    """The simulators serving a fleet: one per channel (each concentrator, gateway or RS-485 line
    has its own address space)."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.meters: dict[str, SimulatedMeter] = {}
        self.protocols: dict[str, str] = {}  # meter id -> protocol
        self.by_channel: dict[str, DlmsSimulator] = {}
        self.by_meter: dict[str, DlmsSimulator] = {}
        self.modbus: dict[str, ModbusSimServer] = {}  # channel id -> bus
        self.dlt645: dict[str, Dlt645Simulator] = {}  # channel id -> line

    def meter(self, meter_id: str) -> SimulatedMeter:
        return self.meters[meter_id]

    def physical_address(self, meter_id: str) -> int:
        return self.by_meter[meter_id].physical_address(meter_id)


@contextlib.asynccontextmanager
async def simulated_fleet(
    config: HeadendConfig,
    *,
    configured_ports: bool = False,
    host: str = "127.0.0.1",
    faults: Mapping[str, DlmsFaults] | None = None,
    silent: Collection[str] = (),
) -> AsyncIterator[tuple[SimulatedFleet, HeadendConfig]]:
    """Start simulators for every meter of `config`; yields them and the config to read."""
    fleet = config.fleet
    sim_cfg = fleet.simulation or Simulation()
    handle = SimulatedFleet(SimClock(factor=sim_cfg.factor))
    for i, m in enumerate(fleet.meters):
        history = sim_cfg.history
        if m.protocol == "dlt645":
            history = max(history, DLT645_MIN_HISTORY)
        handle.meters[m.id] = SimulatedMeter(
            m.id, handle.clock, seed=sim_cfg.seed + i, history=history
        )
        handle.protocols[m.id] = m.protocol
    dead = set(silent)
    async with contextlib.AsyncExitStack() as stack:
        channels: list[Any] = []
        served_meters: dict[str, AnyMeter] = {}
        for i, channel in enumerate(fleet.channels):
            where = f"channels[{i}]"
            on_channel = [m for m in fleet.meters if m.channel == channel.id]
            protocols = {m.protocol for m in on_channel}
            if not on_channel:
                channels.append(channel)
                continue
            if len(protocols) > 1:
                raise ConfigError.one(
                    config.path,
                    where,
                    f"the simulator serves one protocol per channel, found {sorted(protocols)}",
                )
            port = channel.port if configured_ports and isinstance(channel, TcpChannel) else 0
            try:
                if protocols == {"dlms"}:
                    dlms = [m for m in on_channel if isinstance(m, DlmsMeter)]
                    served = await _serve_dlms(
                        stack, handle, config, where, channel, dlms, port, host, faults or {}, dead
                    )
                    channels.append(served)
                    for meter in dlms:
                        if meter.framing is DlmsFraming.HDLC:
                            # HDLC meters without a configured physical address got one from the sim
                            update = {"server_physical": handle.physical_address(meter.id)}
                            served_meters[meter.id] = meter.model_copy(update=update)
                elif protocols == {"modbus"}:
                    units = [m for m in on_channel if isinstance(m, ModbusMeter)]
                    channels.append(
                        await _serve_modbus(
                            stack, handle, config, where, channel, units, port, host, dead
                        )
                    )
                else:
                    lines = [m for m in on_channel if isinstance(m, Dlt645Meter)]
                    channels.append(
                        await _serve_dlt645(
                            stack, handle, config, where, channel, lines, port, host, dead
                        )
                    )
            except OSError as exc:
                # A port taken by another process is the operator's config problem, not a crash.
                raise ConfigError.one(
                    config.path,
                    f"{where}.port",
                    f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                ) from None
        all_meters = [served_meters.get(m.id, m) for m in fleet.meters]
        served_fleet = fleet.model_copy(update={"channels": channels, "meters": all_meters})
        yield handle, HeadendConfig(config.path, served_fleet, config.keys)


def _tcp(channel: TcpChannel | SerialChannel, host: str, port: int) -> TcpChannel:
    assert isinstance(channel, TcpChannel)
    return channel.model_copy(update={"host": host, "port": port})


async def _serve_dlms(
    stack: contextlib.AsyncExitStack,
    handle: SimulatedFleet,
    config: HeadendConfig,
    where: str,
    channel: TcpChannel | SerialChannel,
    meters: list[DlmsMeter],
    port: int,
    host: str,
    faults: Mapping[str, DlmsFaults],
    dead: set[str],
) -> TcpChannel | SerialChannel:
    sim = await stack.enter_async_context(DlmsSimulator(handle.clock, host=host))
    handle.by_channel[channel.id] = sim
    for meter in meters:
        physical = meter.server_physical if meter.framing is DlmsFraming.HDLC else None
        fault = faults.get(meter.id)
        if meter.id in dead:
            fault = replace(fault or DlmsFaults(), silent=True)
        sim.add_meter(
            handle.meters[meter.id],
            _secrets(config, meter),
            faults=fault,
            physical_address=physical,
        )
        handle.by_meter[meter.id] = sim
    ids = [m.id for m in meters]
    if isinstance(channel, SerialChannel):
        device = await sim.serve_hdlc_pty(ids)
        return channel.model_copy(update={"device": device})
    if all(m.framing is DlmsFraming.HDLC for m in meters):
        port = await sim.serve_hdlc_tcp(ids, port=port)
    elif len(meters) == 1:
        port = await sim.serve_wrapper(ids[0], port=port)
    else:
        raise ConfigError.one(
            config.path,
            where,
            "the simulator serves one wrapper meter per TCP channel, or HDLC meters only",
        )
    return _tcp(channel, host, port)


async def _serve_modbus(
    stack: contextlib.AsyncExitStack,
    handle: SimulatedFleet,
    config: HeadendConfig,
    where: str,
    channel: TcpChannel | SerialChannel,
    meters: list[ModbusMeter],
    port: int,
    host: str,
    dead: set[str],
) -> TcpChannel | SerialChannel:
    serial = isinstance(channel, SerialChannel)
    framings = {m.framing or ("rtu" if serial else "socket") for m in meters}
    if len(framings) > 1:
        raise ConfigError.one(
            config.path, where, "Modbus meters on one channel must share one framing"
        )
    devices: dict[int, SimModbusDevice] = {}
    for meter in meters:
        if meter.unit_id in devices:
            raise ConfigError.one(
                config.path, where, f"unit id {meter.unit_id} is used twice on this channel"
            )
        devices[meter.unit_id] = SimModbusDevice(handle.meters[meter.id], load_map(meter.model))
    server = await stack.enter_async_context(ModbusSimServer(devices))
    server.faults.update({m.unit_id: Fault.SILENT for m in meters if m.id in dead})
    handle.modbus[channel.id] = server
    if isinstance(channel, SerialChannel):
        if framings != {"rtu"}:
            raise ConfigError.one(config.path, where, "a serial channel carries Modbus RTU only")
        pty = open_pty()
        stack.callback(pty.close)
        await server.serve_pty(pty.master_fd)
        return channel.model_copy(update={"device": pty.slave_path})
    bound = await server.serve_tcp(host, port, rtu=framings == {"rtu"})
    return _tcp(channel, host, bound)


async def _serve_dlt645(
    stack: contextlib.AsyncExitStack,
    handle: SimulatedFleet,
    config: HeadendConfig,
    where: str,
    channel: TcpChannel | SerialChannel,
    meters: list[Dlt645Meter],
    port: int,
    host: str,
    dead: set[str],
) -> TcpChannel | SerialChannel:
    by_address: dict[str, SimulatedMeter] = {}
    for meter in meters:
        if meter.address in by_address:
            raise ConfigError.one(
                config.path, where, f"address {meter.address} is used twice on this line"
            )
        by_address[meter.address] = handle.meters[meter.id]
    sim = Dlt645Simulator(by_address)
    sim.silent.update(address_to_wire(m.address) for m in meters if m.id in dead)
    handle.dlt645[channel.id] = sim
    if isinstance(channel, SerialChannel):
        pty = open_pty()
        stack.callback(pty.close)
        task = asyncio.create_task(sim.serve_pty(pty.master_fd))

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        stack.push_async_callback(stop)
        # pseudo-terminals refuse even parity: the simulated line runs 8N1
        return channel.model_copy(update={"device": pty.slave_path, "parity": "N"})
    server = await sim.start_tcp(host, port)

    async def close() -> None:
        server.close()
        await sim.aclose()
        await server.wait_closed()

    stack.push_async_callback(close)
    bound: int = server.sockets[0].getsockname()[1]
    return _tcp(channel, host, bound)
