"""The MQTT sink against a real mosquitto that wants a username and password."""

from __future__ import annotations

import asyncio
from datetime import timedelta, timezone

import pytest
from pydantic import SecretStr

from headend.config.sinks import MqttSink as MqttConfig
from headend.events.model import Event, EventOrigin, HeadendEvent
from headend.runs.model import RunStats
from headend.sinks.messages import SCHEMA_VERSION, reading_id
from headend.sinks.mqtt import MqttSink
from headend.sinks.sink import SinkUnavailable
from headend.store.base import OutboxEntry
from tests.brokers import MQTT_PASSWORD, MQTT_USER, Mosquitto
from tests.sinks.support import SITE, T0, Subscriber, energy, entries

METERS = ("m0", "m1", "m2")


def sink(
    broker: Mosquitto,
    password: str = MQTT_PASSWORD,
    prefix: str | None = None,
    per_message: int = 200,
) -> MqttSink:
    config = MqttConfig(
        host="127.0.0.1",
        port=broker.port,
        username=MQTT_USER,
        topic_prefix=prefix,
        readings_per_message=per_message,
    )
    return MqttSink(config, site=SITE, password=SecretStr(password))


def event(meter: str | None, code: int, name: str) -> Event:
    return Event(
        origin=EventOrigin.METER if meter else EventOrigin.HEADEND,
        meter_id=meter,
        channel_id="gw0",
        code=code,
        name=name,
        text=name.replace("_", " "),
        time=T0 + timedelta(hours=1),
        received_at=T0 + timedelta(hours=1, seconds=5),
        source="0.0.99.98.0.255" if meter else "daily",
    )


RUN = RunStats(
    run_id="daily-20250301",
    plan="daily",
    started_at=T0,
    duration_s=12.5,
    attempted=10,
    ok=8,
    partial=1,
    failed=1,
    failed_by_cause={"timeout": 1},
    readings=90,
    stored=90,
)


async def test_readings_events_and_runs_arrive_as_json_on_their_topics(mosquitto: Mosquitto):
    readings = [energy("m1", 0), energy("m1", 1), energy("m2", 0)]
    items = [
        *entries(readings),
        OutboxEntry(seq=4, kind="event", created_at=T0, event=event("m1", 1, "power_failure")),
        OutboxEntry(
            seq=5,
            kind="event",
            created_at=T0,
            event=event(None, HeadendEvent.CHANNEL_DOWN, "channel_down"),
        ),
        OutboxEntry(seq=6, kind="run", created_at=T0, run=RUN),
    ]
    target = sink(mosquitto)
    async with Subscriber(mosquitto.port, f"headend/{SITE}/#") as subscriber:
        await target.deliver(items)
        got = await subscriber.wait_for(len(items))
    await target.close()

    assert [m.topic for m in got] == [
        "headend/north/meter/m1/reading",
        "headend/north/meter/m1/reading",
        "headend/north/meter/m2/reading",
        "headend/north/meter/m1/event",
        "headend/north/channel/gw0/event",
        "headend/north/run/daily",
    ]
    first = got[0].payload
    assert first == {
        "schema_version": SCHEMA_VERSION,
        "id": reading_id("m1", "1.0.1.8.0.255", T0),
        "meter": "m1",
        "obis": "1.0.1.8.0.255",
        "value": "100",
        "unit": "kWh",
        "capture_time": "2025-03-01T00:00:00Z",
        "receive_time": "2025-03-01T00:00:30Z",
        "quality": "ok",
    }
    ids = [m.payload["id"] for m in got[:3]]
    assert len(set(ids)) == 3
    assert got[3].payload["code"] == 1
    assert got[3].payload["name"] == "power_failure"
    assert got[3].payload["id"] == items[3].event.key  # type: ignore[union-attr]
    assert got[4].payload["meter"] is None
    assert got[5].payload["id"] == "daily-20250301"
    assert got[5].payload["failed_by_cause"] == {"timeout": 1}
    assert all(m.payload["schema_version"] == SCHEMA_VERSION for m in got)


async def test_the_same_reading_has_the_same_id_whatever_its_time_zone(mosquitto: Mosquitto):
    reading = energy("m1", 3)
    assert reading.capture_time is not None
    beijing = timezone(timedelta(hours=8))
    shifted = reading.model_copy(update={"capture_time": reading.capture_time.astimezone(beijing)})
    target = sink(mosquitto, prefix="custom/prefix")
    async with Subscriber(mosquitto.port, "custom/prefix/#") as subscriber:
        await target.deliver(entries([reading, shifted]))
        got = await subscriber.wait_for(2)
    await target.close()
    assert got[0].payload["id"] == got[1].payload["id"]
    assert got[0].topic == "custom/prefix/meter/m1/reading"


async def test_one_connection_serves_many_batches_and_comes_back_after_a_restart(
    mosquitto: Mosquitto,
):
    target = sink(mosquitto)
    async with Subscriber(mosquitto.port, f"headend/{SITE}/#") as subscriber:
        await target.deliver(entries([energy("m1", 0)]))
        await target.deliver(entries([energy("m1", 1)], first_seq=2))
        await subscriber.wait_for(2)
        await asyncio.to_thread(mosquitto.stop)
        with pytest.raises(SinkUnavailable) as failure:
            await target.deliver(entries([energy("m1", 2)], first_seq=3))
        assert failure.value.sink == "mqtt"
        assert str(mosquitto.port) in failure.value.reason
        await asyncio.to_thread(mosquitto.start)
        await subscriber.reconnected(2)  # else the message would reach nobody
        await target.deliver(entries([energy("m1", 2)], first_seq=3))
        got = await subscriber.wait_for(3)
    await target.close()
    assert [m.payload["value"] for m in got][-1] == "100.2"


async def test_a_wrong_password_is_reported_as_such_without_the_password(mosquitto: Mosquitto):
    target = sink(mosquitto, password="not-the-password")
    with pytest.raises(SinkUnavailable) as failure:
        await target.deliver(entries([energy("m1", 0)]))
    await target.close()
    reason = failure.value.reason
    assert "wrong username or password" in reason
    assert f"127.0.0.1:{mosquitto.port}" in reason
    assert "not-the-password" not in str(failure.value)


async def test_a_meters_readings_go_out_grouped_in_order_each_reading_once(mosquitto: Mosquitto):
    # the meters interleaved, as concurrent channel jobs leave them in the outbox
    readings = [energy(meter, step) for step in range(500) for meter in METERS]
    target = sink(mosquitto, per_message=200)
    async with Subscriber(mosquitto.port, f"headend/{SITE}/#") as subscriber:
        await target.deliver(entries(readings))
        await subscriber.wait_for(len(readings))
        await subscriber.settle()
    await target.close()

    assert len(subscriber.raw) == 3 * 3
    for meter in METERS:
        topic = f"headend/{SITE}/meter/{meter}/reading"
        groups = [m.payload for m in subscriber.raw if m.topic == topic]
        assert [len(g["readings"]) for g in groups] == [200, 200, 100]
        assert all(set(g) == {"schema_version", "meter", "readings"} for g in groups)
        assert all(g["schema_version"] == SCHEMA_VERSION and g["meter"] == meter for g in groups)
        times = [r["capture_time"] for g in groups for r in g["readings"]]
        assert times == sorted(times) and len(set(times)) == 500  # in outbox order
        assert all(r["meter"] == meter for g in groups for r in g["readings"])
    ids = [m.payload["id"] for m in subscriber.messages]
    expected = {reading_id(r.meter_id, r.obis, r.capture_time or T0) for r in readings}
    assert len(ids) == len(expected) == len(readings) and set(ids) == expected


async def test_an_event_of_a_meter_closes_its_group_so_its_messages_keep_outbox_order(
    mosquitto: Mosquitto,
):
    items = [
        *entries([energy("m1", 0), energy("m2", 0), energy("m1", 1)]),
        OutboxEntry(seq=4, kind="event", created_at=T0, event=event("m1", 1, "power_failure")),
        *entries([energy("m1", 2), energy("m2", 1)], first_seq=5),
    ]
    target = sink(mosquitto, per_message=200)
    async with Subscriber(mosquitto.port, f"headend/{SITE}/#") as subscriber:
        await target.deliver(items)
        await subscriber.wait_for(6)
        await subscriber.settle()
    await target.close()

    def values(payload: dict[str, object]) -> object:
        readings = payload.get("readings")
        if isinstance(readings, list):
            return [r["value"] for r in readings]
        return payload["name"]

    m1 = [values(m.payload) for m in subscriber.raw if "/m1/" in m.topic]
    m2 = [values(m.payload) for m in subscriber.raw if "/m2/" in m.topic]
    assert m1 == [["100", "100.1"], "power_failure", ["100.2"]]
    assert m2 == [["100", "100.1"]]


async def test_one_reading_per_message_publishes_the_plain_reading_object(mosquitto: Mosquitto):
    readings = [energy(meter, step) for step in range(3) for meter in METERS]
    target = sink(mosquitto, per_message=1)
    async with Subscriber(mosquitto.port, f"headend/{SITE}/#") as subscriber:
        await target.deliver(entries(readings))
        await subscriber.wait_for(len(readings))
        await subscriber.settle()
    await target.close()

    assert len(subscriber.raw) == len(readings)
    assert [m.topic for m in subscriber.raw] == [
        f"headend/{SITE}/meter/{r.meter_id}/reading" for r in readings
    ]
    assert [m.payload["id"] for m in subscriber.raw] == [
        reading_id(r.meter_id, r.obis, r.capture_time or T0) for r in readings
    ]
    assert all("readings" not in m.payload for m in subscriber.raw)
    assert subscriber.raw[0].payload["value"] == "100"
