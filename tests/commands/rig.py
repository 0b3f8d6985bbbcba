"""A small simulated fleet for the command tests: HLS-ciphered DLMS meters (a public client may
not command), two behind a half-duplex concentrator and two GPRS meters, the last of which can
be made a public client (whose commands the meter refuses)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headend.commands.model import CommandAction, CommandRequest
from headend.commands.service import CommandService
from headend.config import HeadendConfig
from headend.reading.channels import channel_registry
from headend.service.clock import ServiceClock
from headend.simulation import simulated_fleet
from headend.simulation.fleet import SimulatedFleet
from headend.store import Store, open_store
from tests.conftest import free_port
from tests.service.fleet_files import load, shape, with_channel_down, write_fleet

CONCENTRATED = ["dc01-0001", "dc01-0002"]
GPRS = "gprs-000001"
PUBLIC = "gprs-000002"  # commands refused: the public client may only read


def fleet_file(
    tmp_path: Path,
    *,
    plans: list[dict[str, Any]] | None = None,
    commands: dict[str, Any] | None = None,
    meters_on_concentrator: int = 2,
    own_ports: bool = False,
) -> Path:
    """The fleet file; `own_ports`: every channel on 127.0.0.1 and a free port of its own, so
    another process can read the file and reach the meters served at the configured ports."""

    def tweak(data: dict[str, Any]) -> None:
        if own_ports:
            for channel in data["channels"]:
                channel.update(host="127.0.0.1", port=free_port())
        for meter in data["meters"]:
            if meter["id"] == PUBLIC:
                for key in ("auth", "cipher", "key"):
                    meter.pop(key, None)
        data["service"]["commands"] = {"backoff_s": 0.05, "backoff_max_s": 0.2, **(commands or {})}

    fleet_shape = shape(
        meters_on_concentrator + 2,
        concentrators=1,
        meters_per_concentrator=meters_on_concentrator,
        cipher_share=1.0,
    )
    return write_fleet(tmp_path / "fleet.toml", fleet_shape, plans or [], tweak=tweak)


@dataclass
class Rig:
    sim: SimulatedFleet
    config: HeadendConfig
    store: Store
    service: CommandService
    clock: ServiceClock
    live: HeadendConfig  # the served fleet with every channel up

    def another_service(self, config: HeadendConfig | None = None) -> CommandService:
        """A second command service on the same store (a restarted head-end)."""
        config = config or self.live
        return CommandService(config, self.store, channel_registry(config.fleet), self.clock)


def request(
    meter: str | None, action: CommandAction = CommandAction.DISCONNECT, **fields: Any
) -> CommandRequest:
    return CommandRequest(
        meter=meter,
        action=action,
        reason=fields.pop("reason", "test"),
        requester="tester",
        **fields,
    )


@asynccontextmanager
async def rig(
    tmp_path: Path,
    config: HeadendConfig | None = None,
    *,
    down: str | None = None,
    database: str | None = None,
    **options: Any,
) -> AsyncIterator[Rig]:
    """The fleet served, a store (`database`, default a SQLite file) and a command service on
    it; `down`: a channel whose port nobody listens on (a dead meter: connections refused)."""
    config = config or load(fleet_file(tmp_path))
    async with (
        simulated_fleet(config, **options) as (sim, served),
        await open_store(database or str(tmp_path / "site.sqlite3")) as store,
    ):
        live = served
        if down is not None:
            served = with_channel_down(served, down)
        service = CommandService(
            served, store, channel_registry(served.fleet), sim.clock, resolve=None
        )
        try:
            yield Rig(sim, served, store, service, sim.clock, live)
        finally:
            await service.close()
