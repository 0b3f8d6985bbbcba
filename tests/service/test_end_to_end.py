"""End to end: the service collects a mixed fleet (DLMS behind concentrators and GPRS, Modbus
behind RS-485 gateways, DL/T 645 lines) with one concentrator down and some meters that time out;
readings arrive in SQLite, in VictoriaMetrics (through influxdb-client's /api/v2/write) and on
mosquitto; a broker outage delays MQTT only and every reading then arrives exactly once, in order
per meter; a meter's pushed power failure is stored and published."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from headend.config.sinks import INFLUXDB_TOKEN_ENV, MQTT_PASSWORD_ENV
from headend.events.model import EventOrigin, HeadendEvent
from headend.service.daemon import Daemon
from headend.simulation import simulated_fleet
from headend.sinks.forwarder import Forwarder, SinkStatus
from headend.store import SqliteStore
from tests.brokers import MQTT_PASSWORD, MQTT_USER, Mosquitto, VictoriaMetrics
from tests.conftest import free_port
from tests.service.fleet_files import CLOCK, REGISTERS, load, shape, with_channel_down, write_fleet
from tests.sinks.support import Subscriber

SITE = "e2e"
DAILY = {
    "name": "daily",
    "points": [*REGISTERS, "1.0.1.8.1.255", CLOCK],
    "profile": "1.0.99.2.0.255",
    "profile_window": "P1D",
    "horizon": "P3D",
    "rereads": 1,
    "reread_spacing": "PT0.5S",
}
INSTANT = {"name": "instantaneous", "points": ["1.0.1.7.0.255", "1.0.2.7.0.255"], "rereads": 0}
SILENT = {"gprs-000003", "gprs-000007", "gprs-000011"}
DOWN = "dc02"


@pytest.fixture
def persistent_broker() -> Iterator[Mosquitto]:
    """Keeps sessions across a restart, so the test's subscriber misses nothing while it
    reconnects (the head-end may be back first)."""
    broker = Mosquitto(free_port(), users={MQTT_USER: MQTT_PASSWORD}, persistent=True)
    broker.start()
    yield broker
    broker.remove()


async def drained(forwarder: Forwarder, check: Any = None) -> dict[str, SinkStatus]:
    """Poll until every sink has delivered everything (a hang guard, not a timing assertion)."""
    async with asyncio.timeout(120):
        while True:
            status = {s.sink: s for s in await forwarder.status()}
            if check(status) if check else all(s.depth == 0 for s in status.values()):
                return status
            await asyncio.sleep(0.05)


async def test_collection_reaches_store_victoriametrics_and_mqtt_exactly_once(
    tmp_path: Path,
    persistent_broker: Mosquitto,
    victoria: VictoriaMetrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(MQTT_PASSWORD_ENV, MQTT_PASSWORD)
    monkeypatch.setenv(INFLUXDB_TOKEN_ENV, "test-token")
    push_port = free_port()
    fleet_shape = shape(
        240,
        concentrators=3,
        meters_per_concentrator=20,
        modbus_gateways=3,
        units_per_gateway=8,
        dlt645_lines=3,
        meters_per_line=6,
        history=timedelta(days=4),
    )

    def tweak(data: dict[str, Any]) -> None:
        data["site"]["name"] = SITE
        data["service"]["push_port"] = push_port
        data["sinks"] = {
            "mqtt": {"host": "127.0.0.1", "port": persistent_broker.port, "username": MQTT_USER},
            "influxdb": {"url": victoria.url, "org": "utility", "bucket": "metering"},
        }

    config = load(write_fleet(tmp_path / "fleet.toml", fleet_shape, [DAILY, INSTANT], tweak=tweak))
    database = tmp_path / "site.sqlite3"
    async with (
        simulated_fleet(config, silent=SILENT, push_destination=f"127.0.0.1:{push_port}") as (
            sim,
            served,
        ),
        await SqliteStore.open(database) as store,
        Subscriber(persistent_broker.port, f"headend/{SITE}/#", persistent=True) as subscriber,
    ):
        served = with_channel_down(served, DOWN)
        assert served.fleet.sinks is not None
        forwarder = Forwarder(
            store, served.fleet.sinks, served.fleet, poll_s=0.05, backoff_s=0.05, backoff_max_s=0.5
        )
        daemon = Daemon(served, store, sim.clock, database_url=str(database), forwarder=forwarder)
        await daemon.start()
        try:
            service = daemon.service
            stats = await service.run_plan(served.fleet.plan("daily"), trigger="manual")

            # everything reachable was read; the rest re-read, then reported
            behind_down = {m.id for m in served.fleet.meters_on(DOWN)}
            protocols = Counter(m.protocol for m in served.fleet.meters)
            assert set(protocols) == {"dlms", "modbus", "dlt645"}
            assert stats.attempted == 240 and stats.rereads == 1
            assert stats.failed == len(SILENT) + len(behind_down)
            assert stats.failed_by_cause == {"timeout": 3, "channel down": 20}
            failed_events = await store.events()
            assert Counter(e.code for e in failed_events) == {
                int(HeadendEvent.COLLECTION_FAILED): 23,
                int(HeadendEvent.CHANNEL_DOWN): 1,
            }
            stored = await store.count_readings()
            assert stored == stats.stored > 0

            await drained(forwarder)
            await subscriber.wait_for(stored + len(failed_events) + 1)
            await subscriber.settle()
            readings = [m for m in subscriber.messages if m.topic.endswith("/reading")]
            assert len({m.payload["id"] for m in readings}) == len(readings) == stored
            events = [m for m in subscriber.messages if m.topic.endswith("/event")]
            assert len(events) == len(failed_events)
            runs = [m for m in subscriber.messages if m.topic == f"headend/{SITE}/run/daily"]
            assert [r.payload["failed"] for r in runs] == [23]

            numeric = [r for r in await store.readings() if not isinstance(r.value, str)]
            numeric = [r for r in numeric if r.obis != CLOCK]
            series = [s for s in await asyncio.to_thread(victoria.export) if "obis" in s.labels]
            assert sum(len(s.timestamps) for s in series) == len(numeric)
            assert {s.labels["meter"] for s in series} == {r.meter_id for r in numeric}
            assert {"channel", "obis", "site"} <= set(series[0].labels)

            # a pushed power failure: stored once, published
            sim.meter("gprs-000001").power_fail()
            async with asyncio.timeout(60):
                while daemon.push is None or not daemon.push.stored:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            [pushed] = await store.events(meter_ids=["gprs-000001"])
            assert (pushed.origin, pushed.source, pushed.code) == (EventOrigin.METER, "push", 1)
            await drained(forwarder)
            await subscriber.settle()
            assert any(
                m.topic == f"headend/{SITE}/meter/gprs-000001/event" and m.payload["code"] == 1
                for m in subscriber.messages
            )

            # the broker goes away: more readings are taken; MQTT waits, InfluxDB does not
            before = len(subscriber.messages)
            await asyncio.to_thread(persistent_broker.stop)
            instant = await service.run_plan(served.fleet.plan("instantaneous"))
            assert instant.ok == 240 - len(SILENT) - len(behind_down)
            during = await drained(
                forwarder, lambda s: s["mqtt"].depth > 0 and s["influxdb"].depth == 0
            )
            assert during["mqtt"].failing
            await asyncio.to_thread(persistent_broker.start)
            await drained(forwarder)
            total = await store.count_readings()
            await subscriber.wait_for(before + (total - stored))
            await subscriber.settle()
        finally:
            await daemon.stop()

    readings = [m for m in subscriber.messages if m.topic.endswith("/reading")]
    ids = [m.payload["id"] for m in readings]
    assert len(ids) == len(set(ids)) == total  # every reading exactly once
    by_meter: dict[str, list[str]] = {}
    for m in readings:
        if m.payload["obis"] == "1.0.1.7.0.255":
            by_meter.setdefault(m.payload["meter"], []).append(m.payload["receive_time"])
    assert all(times == sorted(times) for times in by_meter.values())  # in order per meter
    assert len(by_meter) == 240 - len(SILENT) - 20
