"""The forwarder with a real SqliteStore, a real mosquitto and a real VictoriaMetrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from headend.config.sinks import MQTT_PASSWORD_ENV
from headend.sinks.forwarder import Forwarder, SinkStatus
from headend.store import SqliteStore
from tests.brokers import MQTT_PASSWORD, MQTT_USER, Mosquitto, VictoriaMetrics
from tests.conftest import free_port
from tests.sinks.support import SITE, Subscriber, energy, fleet

METERS = ("m0", "m1", "m2")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "site.sqlite3")
    yield opened
    await opened.close()


@pytest.fixture
def persistent_broker() -> Iterator[Mosquitto]:
    """Keeps sessions across a restart, so the test subscriber misses nothing while it
    reconnects (the forwarder may well be back first)."""
    broker = Mosquitto(free_port(), users={MQTT_USER: MQTT_PASSWORD}, persistent=True)
    broker.start()
    yield broker
    broker.remove()


def sinks(broker_port: int, victoria: VictoriaMetrics) -> dict[str, Any]:
    return {
        "mqtt": {"host": "127.0.0.1", "port": broker_port, "username": MQTT_USER},
        "influxdb": {"url": victoria.url, "org": "utility", "bucket": "metering"},
    }


def forwarder(store: SqliteStore, config: dict[str, Any], password: str) -> Forwarder:
    site = fleet(len(METERS), sinks=config)
    return Forwarder(
        store,
        site.sinks,
        site,
        env={MQTT_PASSWORD_ENV: password},
        poll_s=0.05,
        backoff_s=0.05,
        backoff_max_s=0.4,
        prune_every_s=0.1,
    )


async def until(
    forwarding: Forwarder, done: Callable[[dict[str, SinkStatus]], bool]
) -> dict[str, SinkStatus]:
    """Poll the status until `done` (a hang guard, not a timing assertion)."""
    async with asyncio.timeout(60):
        while True:
            status = {s.sink: s for s in await forwarding.status()}
            if done(status):
                return status
            await asyncio.sleep(0.02)


def drained(status: dict[str, SinkStatus]) -> bool:
    return all(s.depth == 0 for s in status.values())


async def test_a_broker_outage_delays_mqtt_only_and_every_reading_arrives_once_in_order(
    store: SqliteStore, persistent_broker: Mosquitto, victoria: VictoriaMetrics
):
    first = [energy(m, step) for step in range(4) for m in METERS]
    second = [energy(m, step) for step in range(4, 10) for m in METERS]
    running = forwarder(store, sinks(persistent_broker.port, victoria), MQTT_PASSWORD)
    async with (
        Subscriber(persistent_broker.port, f"headend/{SITE}/#", persistent=True) as subscriber,
        running,
    ):
        assert (await store.save_batch(first)).new == len(first)
        running.notify()
        await subscriber.wait_for(len(first))
        before = await until(running, drained)
        await subscriber.settle()

        await asyncio.to_thread(persistent_broker.stop)
        await store.save_batch(second)
        running.notify()
        during = await until(running, lambda s: s["mqtt"].failing and s["influxdb"].depth == 0)
        assert during["mqtt"].depth == len(second)
        assert during["mqtt"].delivered_seq == before["mqtt"].delivered_seq  # nothing acked
        assert during["mqtt"].oldest_at is not None
        assert during["mqtt"].last_error is not None
        assert str(persistent_broker.port) in during["mqtt"].last_error

        await asyncio.to_thread(persistent_broker.start)
        after = await until(running, drained)
        await subscriber.wait_for(len(first) + len(second))
        await subscriber.settle()  # anything still on its way has arrived now
        # both sinks acknowledged everything: the prune task empties the outbox
        async with asyncio.timeout(60):
            while True:
                if not await store.outbox_fetch("someone-new", 100):
                    break
                await asyncio.sleep(0.02)

    assert not after["mqtt"].failing and after["mqtt"].last_error is None
    assert after["mqtt"].delivered == after["influxdb"].delivered == len(first) + len(second)
    ids = [m.payload["id"] for m in subscriber.messages]
    assert len(ids) == len(set(ids)) == len(first) + len(second)  # exactly once
    for meter in METERS:
        times = [
            m.payload["capture_time"]
            for m in subscriber.messages
            if m.topic == f"headend/{SITE}/meter/{meter}/reading"
        ]
        assert len(times) == 10
        assert times == sorted(times)  # in order per meter
    series = await asyncio.to_thread(victoria.export)
    assert sorted(s.labels["meter"] for s in series) == list(METERS)
    assert all(len(s.timestamps) == 10 and s.timestamps == sorted(s.timestamps) for s in series)


async def test_a_wrong_mqtt_password_is_logged_once_and_nothing_is_acked(
    store: SqliteStore,
    mosquitto: Mosquitto,
    victoria: VictoriaMetrics,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.INFO, logger="headend.sinks")
    readings = [energy(m, step) for step in range(3) for m in METERS]
    running = forwarder(store, sinks(mosquitto.port, victoria), "wrong-Passw0rd")
    async with running:
        await store.save_batch(readings)
        running.notify()
        status = await until(
            running, lambda s: s["mqtt"].last_error is not None and s["influxdb"].depth == 0
        )
        await asyncio.sleep(0.5)  # several retries happen meanwhile (backoff cap 0.4 s)
        status = {s.sink: s for s in await running.status()}

    mqtt = status["mqtt"]
    assert (mqtt.depth, mqtt.delivered_seq, mqtt.delivered) == (len(readings), 0, 0)
    assert mqtt.failing
    assert "wrong username or password" in (mqtt.last_error or "")
    assert status["influxdb"].delivered == len(readings)
    lines = [r.getMessage() for r in caplog.records if "sink mqtt" in r.getMessage()]
    assert len(lines) == 1  # one line per problem, not one per retry
    assert lines[0].startswith(
        f"sink mqtt: not delivered: 127.0.0.1:{mosquitto.port}: connection refused: "
        "wrong username or password"
    )
    assert f"{len(readings)} entries waiting" in lines[0]
    assert "wrong-Passw0rd" not in caplog.text


async def test_a_stopped_forwarder_resumes_after_its_cursor(
    store: SqliteStore, mosquitto: Mosquitto, victoria: VictoriaMetrics
):
    config = sinks(mosquitto.port, victoria)
    async with Subscriber(mosquitto.port, f"headend/{SITE}/#") as subscriber:
        first = forwarder(store, config, MQTT_PASSWORD)
        async with first:
            await store.save_batch([energy("m0", 0), energy("m0", 1)])
            first.notify()
            await until(first, drained)
        await store.save_batch([energy("m0", 2)])  # while no forwarder runs
        second = forwarder(store, config, MQTT_PASSWORD)
        async with second:
            status = await until(second, drained)
            await subscriber.wait_for(3)
            await subscriber.settle()
    assert status["mqtt"].delivered == 1  # only what came after the cursor
    assert [m.payload["value"] for m in subscriber.messages] == ["100", "100.1", "100.2"]


class Recording:
    """A sink that keeps what it is given (the forwarder is under test here, not a sink)."""

    name = "recording"
    batch_size = 25

    def __init__(self) -> None:
        self.seqs: list[int] = []

    async def deliver(self, entries: Any) -> None:
        self.seqs.extend(e.seq for e in entries)
        await asyncio.sleep(0)  # let a status query run between delivery and ack

    async def close(self) -> None:
        pass


async def test_status_queries_during_a_drain_never_cause_a_second_delivery(
    store: SqliteStore,
) -> None:
    for step in range(40):
        await store.save_batch([energy(m, step) for m in METERS] * 1)
    total = 40 * len(METERS)
    sink = Recording()
    running = Forwarder(store, [sink], fleet(len(METERS)), poll_s=0.01, prune_every_s=3600)
    polls = 0

    async def poll() -> None:
        nonlocal polls
        while True:
            await running.status()
            polls += 1

    async with running:
        poller = asyncio.create_task(poll())
        async with asyncio.timeout(60):
            while len(sink.seqs) < total:  # noqa: ASYNC110 - a hang guard
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # a second delivery would come now
        poller.cancel()
    assert polls > 0
    assert len(sink.seqs) == len(set(sink.seqs)) == total
