"""Generated fleets for the service tests: written as TOML, loaded like a user's file, served by
in-process simulators; helpers to take a channel down or make meters time out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from headend.config import HeadendConfig, load_config
from headend.config.fleet import TcpChannel
from headend.simulation import simulated_fleet
from headend.simulation.fleet import SimulatedFleet
from headend.simulation.generator import FleetShape, generate, to_toml
from tests.conftest import free_port

LOAD_PROFILE = "1.0.99.1.0.255"
CLOCK = "0.0.1.0.0.255"
REGISTERS = ["1.0.1.8.0.255", "1.0.2.8.0.255"]


def write_fleet(
    path: Path,
    shape: FleetShape,
    plans: list[dict[str, Any]],
    *,
    meter_timeout_s: float = 0.5,
    extra: dict[str, Any] | None = None,
    tweak: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    data = generate(shape)
    data["plans"] = plans
    data["site"]["database"] = str(path.parent / "site.sqlite3")
    data["reading"].update(retries=1, backoff_s=0.05, clock_drift_max_s=10 * 365 * 86400)
    data["service"] = {"control_socket": str(path.parent / "headend.sock")}
    for meter in data["meters"]:
        meter["timeout_s"] = meter_timeout_s
    data.update(extra or {})
    if tweak is not None:
        tweak(data)
    path.write_text(to_toml(data))
    return path


def shape(meters: int, **fields: Any) -> FleetShape:
    fields.setdefault("factor", 1.0)
    fields.setdefault("history", timedelta(days=2))
    return FleetShape(meters=meters, gprs_port=0, **fields)


@asynccontextmanager
async def serving(
    config: HeadendConfig, *, silent: Collection[str] = ()
) -> AsyncIterator[tuple[SimulatedFleet, HeadendConfig]]:
    async with simulated_fleet(config, silent=silent) as (sim, served):
        yield sim, served


def with_channel_down(config: HeadendConfig, channel_id: str) -> HeadendConfig:
    """The same fleet with one channel pointing at a port nobody listens on."""
    fleet = config.fleet
    dead = free_port()
    channels = [
        c.model_copy(update={"port": dead})
        if c.id == channel_id and isinstance(c, TcpChannel)
        else c
        for c in fleet.channels
    ]
    return HeadendConfig(config.path, fleet.model_copy(update={"channels": channels}), config.keys)


def load(path: Path) -> HeadendConfig:
    return load_config(path)
