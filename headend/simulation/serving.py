"""How each channel of a configured fleet is served by a simulator: one DLMS simulator per
concentrator, wrapper meter or HDLC line, one Modbus bus per gateway or RS-485 line, one DL/T 645
line per channel, and one wildcard listener for the GPRS meters dialled by their own loopback
address (see `headend.simulation.fleet` for what a fleet's simulation is)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from drivers.dlms.server import DlmsMeterSecrets
from drivers.dlms.settings import DlmsFraming
from drivers.dlt645.frame import address_to_wire
from drivers.modbus.registermap import load_map
from drivers.sim.dlms_sim import DlmsFaults, DlmsSimulator
from drivers.sim.dlt645_sim import Dlt645Simulator
from drivers.sim.modbus import Fault, ModbusSimServer, SimModbusDevice
from drivers.sim.physics import SimulatedMeter
from drivers.transport.pty import open_pty
from headend.config.errors import ConfigError
from headend.config.fleet import DlmsMeter, Dlt645Meter, ModbusMeter, SerialChannel, TcpChannel
from headend.config.loader import HeadendConfig

if TYPE_CHECKING:
    from headend.simulation.fleet import SimulatedFleet

AnyMeter = DlmsMeter | ModbusMeter | Dlt645Meter


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


class Serving:
    """What every channel's simulator needs to know (keeps the serve functions' arguments few)."""

    def __init__(
        self,
        handle: SimulatedFleet,
        config: HeadendConfig,
        host: str,
        faults: Mapping[str, DlmsFaults],
        dead: set[str],
        delay_s: float,
    ) -> None:
        self.handle = handle
        self.config = config
        self.host = host
        self.faults = faults
        self.dead = dead
        self.delay_s = delay_s

    def dlms_faults(self, meter_id: str) -> DlmsFaults | None:
        fault = self.faults.get(meter_id)
        if meter_id in self.dead:
            fault = replace(fault or DlmsFaults(), silent=True)
        return fault


@contextlib.contextmanager
def port_problem(config: HeadendConfig, where: str, host: str, port: int) -> Any:
    try:
        yield
    except OSError as exc:
        # A port taken by another process is the operator's config problem, not a crash.
        raise ConfigError.one(
            config.path,
            f"{where}.port",
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
        ) from None


def dialled_by_address(
    channels: list[TcpChannel | SerialChannel], on_channels: Mapping[str, list[AnyMeter]]
) -> dict[int, list[tuple[TcpChannel, DlmsMeter]]]:
    """Wrapper channels of one DLMS meter at a loopback address other than 127.0.0.1, by port:
    each group is served by one wildcard listener."""
    groups: dict[int, list[tuple[TcpChannel, DlmsMeter]]] = {}
    for channel in channels:
        meters = on_channels.get(channel.id, [])
        if not isinstance(channel, TcpChannel) or len(meters) != 1:
            continue
        meter = meters[0]
        if not isinstance(meter, DlmsMeter) or meter.framing is DlmsFraming.HDLC:
            continue
        if loopback_ipv4(channel.host) not in (None, "127.0.0.1"):
            groups.setdefault(channel.port, []).append((channel, meter))
    return groups


def loopback_ipv4(host: str) -> str | None:
    """`host` as a 127.x.y.z address in dotted form, or None (a name, IPv6, off loopback).
    Parsed by hand: `ipaddress` costs seconds over 100,000 channels."""
    parts = host.split(".")
    if len(parts) != 4 or parts[0] != "127" or not all(p.isdigit() for p in parts):
        return None
    numbers = [int(p) for p in parts]
    return ".".join(map(str, numbers)) if all(n < 256 for n in numbers) else None


async def serve_by_address(
    stack: contextlib.AsyncExitStack,
    ctx: Serving,
    members: list[tuple[TcpChannel, DlmsMeter]],
    port: int,
    wildcard_host: str,
) -> int:
    sim = await stack.enter_async_context(
        DlmsSimulator(ctx.handle.clock, host=wildcard_host, response_delay_s=ctx.delay_s)
    )
    mapping: dict[str, str] = {}
    for channel, meter in members:
        _add_dlms(ctx, sim, meter)
        ctx.handle.by_channel[channel.id] = sim
        address = loopback_ipv4(channel.host)
        assert address is not None  # grouped by `dialled_by_address`
        mapping[address] = meter.id
    return await sim.serve_wrapper_by_address(mapping, host=wildcard_host, port=port)


def _add_dlms(ctx: Serving, sim: DlmsSimulator, meter: DlmsMeter) -> None:
    physical = meter.server_physical if meter.framing is DlmsFraming.HDLC else None
    sim.add_deferred_meter(
        meter.id,
        functools.partial(ctx.handle.meter, meter.id),
        # keyless meters get the same demo secrets from the simulator, derived when first used
        _secrets(ctx.config, meter) if meter.key else None,
        faults=ctx.dlms_faults(meter.id),
        physical_address=physical,
    )
    ctx.handle.by_meter[meter.id] = sim


def _tcp(channel: TcpChannel | SerialChannel, host: str, port: int) -> TcpChannel:
    assert isinstance(channel, TcpChannel)
    return channel.model_copy(update={"host": host, "port": port})


async def serve_dlms(
    stack: contextlib.AsyncExitStack,
    ctx: Serving,
    where: str,
    channel: TcpChannel | SerialChannel,
    meters: list[DlmsMeter],
    port: int,
) -> TcpChannel | SerialChannel:
    sim = await stack.enter_async_context(
        DlmsSimulator(ctx.handle.clock, host=ctx.host, response_delay_s=ctx.delay_s)
    )
    ctx.handle.by_channel[channel.id] = sim
    for meter in meters:
        _add_dlms(ctx, sim, meter)
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
            ctx.config.path,
            where,
            "the simulator serves one wrapper meter per TCP channel, or HDLC meters only",
        )
    return _tcp(channel, ctx.host, port)


async def serve_modbus(
    stack: contextlib.AsyncExitStack,
    ctx: Serving,
    where: str,
    channel: TcpChannel | SerialChannel,
    meters: list[ModbusMeter],
    port: int,
) -> TcpChannel | SerialChannel:
    handle, config, host, dead = ctx.handle, ctx.config, ctx.host, ctx.dead
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
        devices[meter.unit_id] = SimModbusDevice(handle.meter(meter.id), load_map(meter.model))
    server = await stack.enter_async_context(ModbusSimServer(devices, response_delay_s=ctx.delay_s))
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


async def serve_dlt645(
    stack: contextlib.AsyncExitStack,
    ctx: Serving,
    where: str,
    channel: TcpChannel | SerialChannel,
    meters: list[Dlt645Meter],
    port: int,
) -> TcpChannel | SerialChannel:
    handle, config, host, dead = ctx.handle, ctx.config, ctx.host, ctx.dead
    by_address: dict[str, SimulatedMeter] = {}
    for meter in meters:
        if meter.address in by_address:
            raise ConfigError.one(
                config.path, where, f"address {meter.address} is used twice on this line"
            )
        by_address[meter.address] = handle.meter(meter.id)
    sim = Dlt645Simulator(by_address, response_delay_s=ctx.delay_s)
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
