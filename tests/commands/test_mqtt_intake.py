"""Commands over MQTT, against a real mosquitto that wants a user and password (started here) and
simulated meters over real sockets: an allowed requester's command is executed and answered, a
requester off the allow-list is refused, answered and audited, a repeated id runs once, a message
that is not a command is answered and recorded as an event."""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from drivers.sim.control import EVENT_DISCONNECT
from headend.commands.model import CommandState
from headend.commands.mqtt_intake import CommandAnswer, MqttCommandIntake, ServicePort
from headend.config.sinks import MqttSink
from headend.events.model import HeadendEvent
from headend.service.daemon import Daemon
from headend.simulation import simulated_fleet
from headend.simulation.generator import to_toml
from headend.store import SqliteStore
from tests.brokers import MQTT_PASSWORD, MQTT_USER, Mosquitto
from tests.commands.rig import GPRS, Rig, fleet_file, rig
from tests.service.fleet_files import load

ALLOWED = "ops-desk"


class Broker:
    """A client of the test broker: publishes commands, collects the answers."""

    def __init__(self, client: aiomqtt.Client, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.answers: asyncio.Queue[CommandAnswer] = asyncio.Queue()

    async def send(self, meter: str, payload: dict[str, Any] | bytes) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        await self.client.publish(f"{self.prefix}/command/{meter}", body, qos=1)

    async def answer(self) -> CommandAnswer:
        return await asyncio.wait_for(self.answers.get(), timeout=30)

    async def final(self, correlation_id: str) -> CommandAnswer:
        while True:
            answer = await self.answer()
            if answer.correlation_id == correlation_id and answer.final:
                return answer


@pytest.fixture
async def commanding(
    tmp_path: Path, mosquitto: Mosquitto
) -> AsyncIterator[tuple[Rig, Broker, MqttCommandIntake]]:
    async with rig(tmp_path) as r:
        config = MqttSink(host="127.0.0.1", port=mosquitto.port, username=MQTT_USER)
        site = r.config.fleet.site.name
        port = ServicePort(r.service, r.store, r.config.fleet.index.meters)
        intake = MqttCommandIntake(config, site, port, {ALLOWED}, password=MQTT_PASSWORD)
        await intake.start()
        await asyncio.wait_for(intake.subscribed.wait(), timeout=30)
        async with aiomqtt.Client(
            "127.0.0.1", mosquitto.port, username=MQTT_USER, password=MQTT_PASSWORD
        ) as client:
            broker = Broker(client, intake.prefix)
            await client.subscribe(f"{intake.prefix}/command/+/result", qos=1)

            async def collect() -> None:
                async for message in client.messages:
                    raw = message.payload
                    assert isinstance(raw, bytes)
                    await broker.answers.put(CommandAnswer.model_validate_json(raw))

            task = asyncio.create_task(collect())
            try:
                yield r, broker, intake
            finally:
                task.cancel()
                await intake.stop()


def _disconnects(r: Rig, meter: str) -> int:
    return sum(1 for e in r.sim.meter(meter).events if e.code == EVENT_DISCONNECT)


async def test_an_allowed_command_is_executed_and_its_result_published(
    commanding: tuple[Rig, Broker, MqttCommandIntake],
) -> None:
    r, broker, _intake = commanding
    await broker.send(
        GPRS,
        {
            "schema_version": 1,
            "correlation_id": "c-1",
            "id": "ops-1",
            "action": "disconnect",
            "reason": "unpaid bill",
            "requester": ALLOWED,
        },
    )
    first = await broker.answer()
    assert (first.correlation_id, first.accepted, first.command_id) == ("c-1", True, "ops-1")
    assert first.state in (CommandState.QUEUED, CommandState.SENT, CommandState.CONFIRMED)
    final = first if first.final else await broker.final("c-1")
    assert final.state is CommandState.CONFIRMED and final.meter == GPRS
    assert r.sim.meter(GPRS).connected is False  # the meter itself is disconnected
    states = [(e.state, e.actor) for e in await r.store.audit(command_id="ops-1")]
    assert states[0] == (CommandState.QUEUED, ALLOWED)
    assert states[-1] == (CommandState.CONFIRMED, ALLOWED)


async def test_a_repeated_id_runs_once_and_answers_the_first_outcome(
    commanding: tuple[Rig, Broker, MqttCommandIntake],
) -> None:
    r, broker, _intake = commanding
    command = {"action": "disconnect", "reason": "r", "requester": ALLOWED, "id": "ops-2"}
    await broker.send(GPRS, {**command, "correlation_id": "c-2"})
    first = await broker.final("c-2")
    await broker.send(GPRS, {**command, "correlation_id": "c-3"})
    again = await broker.final("c-3")
    assert first.state is again.state is CommandState.CONFIRMED
    assert again.command_id == "ops-2" and again.updated_at == first.updated_at
    assert _disconnects(r, GPRS) == 1  # the meter was switched once
    sent = [e for e in await r.store.audit(command_id="ops-2") if e.state is CommandState.SENT]
    assert len(sent) == 1


async def test_a_requester_off_the_allow_list_is_refused_answered_and_audited(
    commanding: tuple[Rig, Broker, MqttCommandIntake],
) -> None:
    r, broker, _intake = commanding
    await broker.send(
        GPRS,
        {
            "correlation_id": "c-4",
            "id": "evil-1",
            "action": "disconnect",
            "reason": "because",
            "requester": "mallory",
        },
    )
    answer = await broker.final("c-4")
    assert answer.accepted is False and answer.state is CommandState.FAILED
    assert "mallory" in answer.detail and "not allowed" in answer.detail
    assert r.sim.meter(GPRS).connected is True  # nothing was sent
    assert _disconnects(r, GPRS) == 0
    assert await r.store.command("evil-1") is None  # the refused message claims no id
    (refused,) = [c for c in await r.store.commands(meter=GPRS) if c.id.startswith("refused-")]
    assert refused.state is CommandState.FAILED and refused.requester == "mallory"
    assert "evil-1" in refused.detail
    audit = await r.store.audit(meter=GPRS)
    assert [(e.command_id, e.actor, e.state) for e in audit] == [
        (refused.id, "mallory", CommandState.FAILED)
    ]


async def test_a_message_that_is_not_a_command_is_answered_and_recorded(
    commanding: tuple[Rig, Broker, MqttCommandIntake],
) -> None:
    r, broker, _intake = commanding
    await broker.send(GPRS, {"correlation_id": "c-5", "action": "explode", "reason": "x"})
    answer = await broker.final("c-5")
    assert answer.accepted is False and "action" in answer.detail
    await broker.send(GPRS, b"\xff not json")
    garbage = await broker.final("")
    assert garbage.accepted is False
    await broker.send(
        "no-such-meter",
        {"correlation_id": "c-6", "action": "sync", "reason": "x", "requester": ALLOWED},
    )
    unknown = await broker.final("c-6")
    assert unknown.accepted is False and "no such meter" in unknown.detail
    events = await r.store.events()
    refused = [e for e in events if e.code == HeadendEvent.COMMAND_REFUSED]
    assert {e.meter_id for e in refused} == {GPRS}
    assert len(refused) == 2
    assert r.sim.meter(GPRS).connected is True


async def test_the_broker_refuses_a_client_without_the_password(mosquitto: Mosquitto) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            "127.0.0.1", mosquitto.port, username=MQTT_USER, password="wrong"
        ) as client:
            await client.publish("headend/x/command/m", b"{}", qos=1)


async def test_the_running_service_takes_commands_from_its_broker(
    tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = fleet_file(tmp_path, commands={"allowed_requesters": [ALLOWED]})
    data = tomllib.loads(path.read_text())
    data["sinks"] = {"mqtt": {"host": "127.0.0.1", "port": mosquitto.port, "username": MQTT_USER}}
    path.write_text(to_toml(data))
    monkeypatch.setenv("HEADEND_MQTT_PASSWORD", MQTT_PASSWORD)
    async with (
        simulated_fleet(load(path)) as (sim, served),
        await SqliteStore.open(tmp_path / "site.sqlite3") as store,
    ):
        daemon = Daemon(served, store, sim.clock, database_url=str(tmp_path / "site.sqlite3"))
        await daemon.start()
        prefix = f"headend/{served.fleet.site.name}"
        try:
            async with aiomqtt.Client(
                "127.0.0.1", mosquitto.port, username=MQTT_USER, password=MQTT_PASSWORD
            ) as client:
                broker = Broker(client, prefix)
                await client.subscribe(f"{prefix}/command/+/result", qos=1)

                async def collect() -> None:
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        answer = CommandAnswer.model_validate_json(message.payload)
                        await broker.answers.put(answer)

                task = asyncio.create_task(collect())
                try:
                    command = {"action": "disconnect", "reason": "r", "requester": ALLOWED}
                    # the intake subscribes once the daemon is up: send until it answers
                    answer: CommandAnswer | None = None
                    for attempt in range(100):
                        await broker.send(GPRS, {**command, "correlation_id": f"d-{attempt}"})
                        try:
                            answer = await asyncio.wait_for(broker.answers.get(), timeout=1)
                            break
                        except TimeoutError:
                            continue
                    assert answer is not None and answer.accepted
                    final = answer if answer.final else await broker.final(answer.correlation_id)
                    assert final.state is CommandState.CONFIRMED
                    assert sim.meter(GPRS).connected is False
                finally:
                    task.cancel()
        finally:
            await daemon.stop()
