"""Shared set-up for the Modbus tests: simulated meters on a bus and sessions to read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from drivers.modbus import load_map, open_session, parse_url
from drivers.modbus.registermap import RegisterMap
from drivers.modbus.session import ModbusSession
from drivers.sim.clock import SimClock
from drivers.sim.modbus import ModbusSimServer, SimModbusDevice
from drivers.sim.physics import SimulatedMeter

# A fixed instant in the evening peak, so powers and currents are well away from zero.
START = datetime(2025, 1, 15, 19, 0, tzinfo=UTC)


def frozen_clock() -> SimClock:
    return SimClock(start=START, factor=0)


def meter(seed: int, clock: SimClock | None = None) -> SimulatedMeter:
    return SimulatedMeter(
        f"sim-{seed}", clock or frozen_clock(), seed=seed, history=timedelta(hours=1)
    )


def device(
    model: str | RegisterMap, seed: int = 1, clock: SimClock | None = None
) -> SimModbusDevice:
    register_map = load_map(model) if isinstance(model, str) else model
    return SimModbusDevice(meter(seed, clock), register_map)


async def session(url: str, meter_id: str = "m1") -> ModbusSession:
    return await open_session(parse_url(url), meter_id=meter_id)


def write_map(directory: Path, model: str, text: str) -> Path:
    path = directory / f"{model}.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def tcp_server(
    devices: dict[int, SimModbusDevice], port: int, *, rtu: bool = False
) -> ModbusSimServer:
    server = ModbusSimServer(devices)
    await server.serve_tcp("127.0.0.1", port, rtu=rtu)
    return server
