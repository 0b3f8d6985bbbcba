"""The load manager as `headend run` wires it: a household an earlier run disconnected for load is
reconnected once its feeder has room (a disconnection has no lease), and a feeder whose
guaranteed minimums exceed its capacity is said once, as a head-end event."""

from __future__ import annotations

import asyncio
import json
import tomllib
from datetime import UTC, datetime, time
from pathlib import Path

import aiomqtt
import pytest

from headend.commands.model import CommandAction, CommandRecord, CommandState
from headend.events.model import HeadendEvent
from headend.load.manager import REQUESTER
from headend.load.metrics import LoadCycle
from headend.service.daemon import Daemon
from headend.simulation import simulated_fleet
from headend.simulation.generator import to_toml
from headend.store import SqliteStore
from tests.brokers import MQTT_PASSWORD, MQTT_USER, Mosquitto
from tests.headend.subprocess_cli import headend
from tests.load.grid_rig import DAY, grid_fleet, until
from tests.service.fleet_files import load

HOUSEHOLD = "gprs-000002"


async def test_a_household_left_disconnected_by_an_earlier_run_is_reconnected(
    tmp_path: Path,
) -> None:
    config = load(grid_fleet(tmp_path, time(3, 0)))  # night: the feeder has room
    async with (
        simulated_fleet(config) as (sim, served),
        await SqliteStore.open(tmp_path / "site.sqlite3") as store,
    ):
        sim.meter(HOUSEHOLD).disconnect()  # as the last run left it
        when = datetime.combine(DAY, time(2, 0), tzinfo=UTC)
        await store.save_command(
            CommandRecord(
                id="load:earlier-run",
                meter=HOUSEHOLD,
                action=CommandAction.DISCONNECT,
                reason="last resort",
                requester=REQUESTER,
                priority=1,
                expires_at=when,
                state=CommandState.CONFIRMED,
                created_at=when,
                updated_at=when,
            ),
            new=True,
        )
        daemon = Daemon(served, store, sim.clock, database_url=str(tmp_path / "site.sqlite3"))
        await daemon.start()
        try:

            async def reconnected() -> bool:
                return any(
                    c.meter == HOUSEHOLD
                    and c.requester == REQUESTER
                    and c.action is CommandAction.RECONNECT
                    and c.state is CommandState.CONFIRMED
                    for c in await store.commands(meter=HOUSEHOLD)
                )

            await until(sim, reconnected, "the household reconnected", time(4, 0))
            assert sim.meter(HOUSEHOLD).connected
        finally:
            await daemon.stop()


async def test_minimums_that_do_not_fit_are_said_once_as_an_event(tmp_path: Path) -> None:
    path = grid_fleet(tmp_path, time(18, 30))
    data = tomllib.loads(path.read_text())
    data["load"]["default_min_w"] = 4000.0  # 8 x 4 kW of minimums on a ~16 kW feeder
    path.write_text(to_toml(data))
    config = load(path)
    async with (
        simulated_fleet(config) as (sim, served),
        await SqliteStore.open(tmp_path / "site.sqlite3") as store,
    ):
        daemon = Daemon(served, store, sim.clock, database_url=str(tmp_path / "site.sqlite3"))
        await daemon.start()
        try:

            async def cycles() -> bool:
                return len(await store.load_cycles()) >= 3

            await until(sim, cycles, "three cycles", time(19, 30))
            await asyncio.sleep(0)
            notices = [e for e in await store.events() if e.code == HeadendEvent.LOAD_NOTICE]
            infeasible = [c for c in await store.load_cycles() if c.infeasible]
        finally:
            await daemon.stop()
    assert infeasible, "the cycles say the minimums do not fit"
    assert len(notices) == 1, [n.text for n in notices]  # said once, not every cycle
    assert notices[0].meter_id == config.fleet.load.feeders[0].meter  # type: ignore[union-attr]
    assert "minimum" in notices[0].text


async def test_cycles_are_published_and_a_dead_broker_holds_up_no_cycle(
    tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = grid_fleet(tmp_path, time(18, 30))
    data = tomllib.loads(path.read_text())
    data["sinks"] = {"mqtt": {"host": "127.0.0.1", "port": mosquitto.port, "username": MQTT_USER}}
    data["service"]["commands"]["mqtt"] = False
    data["service"]["mqtt_requests"] = False
    path.write_text(to_toml(data))
    monkeypatch.setenv("HEADEND_MQTT_PASSWORD", MQTT_PASSWORD)
    config = load(path)
    async with (
        simulated_fleet(config) as (sim, served),
        await SqliteStore.open(tmp_path / "site.sqlite3") as store,
        aiomqtt.Client(
            "127.0.0.1", mosquitto.port, username=MQTT_USER, password=MQTT_PASSWORD
        ) as client,
    ):
        prefix = f"headend/{served.fleet.site.name}"
        await client.subscribe(f"{prefix}/feeder/+/cycle", qos=1)
        daemon = Daemon(served, store, sim.clock, database_url=str(tmp_path / "site.sqlite3"))
        await daemon.start()
        try:
            message = await asyncio.wait_for(anext(aiter(client.messages)), timeout=60)
            assert str(message.topic) == f"{prefix}/feeder/feeder-1/cycle"
            assert isinstance(message.payload, bytes)
            published = LoadCycle.model_validate_json(message.payload)
            stored = {c.at: c for c in await store.load_cycles(feeder="feeder-1")}
            assert stored[published.at] == published  # what is published is what is stored
            mosquitto.stop()
            before = len(stored)

            async def more_cycles() -> bool:
                return len(await store.load_cycles()) >= before + 3

            await until(sim, more_cycles, "cycles with the broker down", time(20, 0))
        finally:
            await daemon.stop()


async def test_status_shows_each_feeders_last_cycle(tmp_path: Path) -> None:
    path = grid_fleet(tmp_path, time(18, 30))
    config = load(path)
    async with (
        simulated_fleet(config) as (sim, served),
        await SqliteStore.open(tmp_path / "site.sqlite3") as store,
    ):
        daemon = Daemon(served, store, sim.clock, database_url=str(tmp_path / "site.sqlite3"))
        await daemon.start()
        try:

            async def cycled() -> bool:
                return bool(daemon.load and daemon.load.last)

            await until(sim, cycled, "a control cycle", time(19, 30))
            status, out, err = await headend("status", "--config", str(path))
            assert status == 0, err
            assert "feeders (last control cycle)" in out and "feeder-1" in out
            status, out, err = await headend("status", "--config", str(path), "--json")
            live = json.loads(out)["load"]["feeder-1"]
            assert LoadCycle.model_validate(live).feeder == "feeder-1"
        finally:
            await daemon.stop()
